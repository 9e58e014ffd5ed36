"""A small base for the spec's data objects: slotted, compared by value, read-only by
convention (set once in ``parse``). Plain classes rather than dataclasses: importing
dataclasses/typing costs more than a whole container start on a small machine."""

from __future__ import annotations


class Model:
    __slots__ = ()

    def __init__(self, **kw: object) -> None:
        for name in self.__slots__:
            object.__setattr__(self, name, kw.get(name))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            getattr(self, n) == getattr(other, n) for n in self.__slots__
        )

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"

    __hash__ = None  # type: ignore[assignment]

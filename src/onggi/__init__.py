"""onggi: the container ecosystem in one Python package.

Import the layer you need (``onggi.runtime``, ``onggi.oci`` ...); this top-level module
stays empty so that the runtime's start-up imports nothing it does not use.
"""

__version__ = "0.1.0"

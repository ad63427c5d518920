"""deepissues: verified experiments for the course book *Open Issues in Deep Learning*.

One module per topic; chapters import what they need, e.g.
``from deepissues import expressivity, claims``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

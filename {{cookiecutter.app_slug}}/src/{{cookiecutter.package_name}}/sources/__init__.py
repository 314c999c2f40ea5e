"""Your room: the source this app extracts from.

Everything specific to the source lives here: how it is reached, how it is
planned into partitions, how a partition is read page by page, and the shape
of its records. The engine (``..engine``) only sees the ``Source`` protocol
of ``base.py``; change anything in this package as long as that holds.
"""

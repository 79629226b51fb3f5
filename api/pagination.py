"""Lists page by key (a cursor), never by offset and never by counting the whole table.

An offset page 5,000 deep reads and throws away 250,000 rows, and a COUNT(*) over a coordinator's
half-million systems costs more than the page itself; a cursor on the primary key costs the same
at any depth.
"""

from rest_framework.pagination import CursorPagination


class KeysetPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-pk"

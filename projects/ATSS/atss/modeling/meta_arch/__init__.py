from .atss import ATSS

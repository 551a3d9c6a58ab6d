from .atss import ATSS
from .autoassign import AutoAssign

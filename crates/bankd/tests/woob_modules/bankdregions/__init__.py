# Offline woob module used by bankd's tests of the woob bridge.
from .module import BankdRegionsModule

__all__ = ['BankdRegionsModule']

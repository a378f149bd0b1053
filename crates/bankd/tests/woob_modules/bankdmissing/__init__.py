# Offline woob module used by bankd's tests of the woob bridge.
from .module import BankdMissingModule

__all__ = ['BankdMissingModule']

# Offline woob module used by bankd's tests of the woob bridge.
from .module import BankdNotBankModule

__all__ = ['BankdNotBankModule']

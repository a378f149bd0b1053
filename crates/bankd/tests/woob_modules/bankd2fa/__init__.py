# Offline woob module used by bankd's tests of the woob bridge.
from .module import Bankd2faModule

__all__ = ['Bankd2faModule']

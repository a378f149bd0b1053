"""A fake bank for bankd's tests that needs a Python package nobody has:
woob refuses to load it (requirements.txt), so bankd must list it as
unavailable and name the missing package.
"""

import bankd_nonexistent_package_for_tests  # noqa: F401 -- never reached: woob checks requirements.txt first

from woob.capabilities.bank import CapBank
from woob.tools.backend import BackendConfig, Module
from woob.tools.value import ValueBackendPassword


class BankdMissingModule(Module, CapBank):
    NAME = 'bankdmissing'
    DESCRIPTION = 'Banque Manquante (test)'
    MAINTAINER = 'bankd'
    EMAIL = 'bankd@example.invalid'
    LICENSE = 'LGPLv3+'
    VERSION = '3.7'
    CONFIG = BackendConfig(
        ValueBackendPassword('login', label='Identifiant', masked=False),
        ValueBackendPassword('password', label='Mot de passe'),
    )

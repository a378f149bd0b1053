"""A fake bank for bankd's tests whose configuration uses woob's typed values:
a yes/no switch, an optional date and an integer with a default.

Password 1234 logs in; one account whose label tells the options received
(so a test can see them reach the module). Others -> BrowserIncorrectPassword.
"""

from decimal import Decimal

from woob.browser import LoginBrowser, need_login
from woob.capabilities.bank import Account, CapBank
from woob.exceptions import BrowserIncorrectPassword
from woob.tools.backend import BackendConfig, Module
from woob.tools.value import ValueBackendPassword, ValueBool, ValueDate, ValueInt


class BankdOptionsBrowser(LoginBrowser):
    logged = False  # read by @need_login

    def __init__(self, config, *args, **kwargs):
        super().__init__(config['login'].get(), config['password'].get(), *args, **kwargs)
        self.config = config

    def do_login(self):
        if self.password != '1234':
            raise BrowserIncorrectPassword('Identifiant ou mot de passe incorrect')
        self.logged = True

    @need_login
    def iter_accounts(self):
        birthday = self.config['birthday'].get()
        account = Account('O-1')
        account.label = 'Compte %s (carte %d chiffres%s)' % (
            'pro' if self.config['pro'].get() else 'particulier',
            self.config['card_digits'].get(),
            f', né le {birthday.isoformat()}' if birthday else '',
        )
        account.type = Account.TYPE_CHECKING
        account.currency = 'EUR'
        account.balance = Decimal('99.99')
        return [account]

    @need_login
    def iter_history(self, account):
        return iter(())


class BankdOptionsModule(Module, CapBank):
    NAME = 'bankdoptions'
    DESCRIPTION = 'Banque Options (test)'
    MAINTAINER = 'bankd'
    EMAIL = 'bankd@example.invalid'
    LICENSE = 'LGPLv3+'
    VERSION = '3.7'
    CONFIG = BackendConfig(
        ValueBackendPassword('login', label='Identifiant', masked=False),
        ValueBackendPassword('password', label='Mot de passe'),
        ValueBool('pro', label='Espace professionnel', default=False),
        ValueDate('birthday', label='Date de naissance', required=False),
        ValueInt('card_digits', label='Nombre de chiffres', default=4),
    )
    BROWSER = BankdOptionsBrowser

    def create_default_browser(self):
        return self.create_browser(self.config)

    def iter_accounts(self):
        return self.browser.iter_accounts()

    def iter_history(self, account):
        return self.browser.iter_history(account)

"""A fake bank for bankd's tests: a shown login and a 6-digit secret code.

Password 123456 logs in (one checking account 'P-1', 5 transactions);
login `broken` then fails reading the accounts, as a module does when its
bank redesigned its site (an unexpected exception: bankd's `bug`);
any other code -> BrowserIncorrectPassword (one not of 6 digits is refused
by woob's own regexp check of the config, as ConfigError).
"""

import datetime
from decimal import Decimal

from woob.browser import LoginBrowser, need_login
from woob.capabilities.bank import Account, CapBank, Transaction
from woob.exceptions import BrowserIncorrectPassword
from woob.tools.backend import BackendConfig, Module
from woob.tools.value import ValueBackendPassword


class BankdPassBrowser(LoginBrowser):
    logged = False  # read by @need_login

    def do_login(self):
        if self.password != '123456':
            raise BrowserIncorrectPassword('Code secret erroné', bad_fields=['password'])
        self.logged = True

    @need_login
    def iter_accounts(self):
        if self.username == 'broken':
            raise KeyError('the accounts table is gone from the page')
        account = Account('P-1')
        account.label = 'Compte de dépôt'
        account.number = 'P-1'
        account.type = Account.TYPE_CHECKING
        account.currency = 'EUR'
        account.balance = Decimal('812.40')
        return [account]

    @need_login
    def iter_history(self, account):
        today = datetime.date.today()
        for i, (label, amount) in enumerate(
            [('CB PHARMACIE', '-8.90'), ('VIR LOYER', '-650.00'), ('CB CINEMA', '-11.50'),
             ('VIR REMBOURSEMENT', '25.00'), ('CB MARCHE', '-17.35')],
            start=1,
        ):
            tr = Transaction(f'P{i}')
            tr.date = today - datetime.timedelta(days=2 * i)
            tr.raw = tr.label = label
            tr.amount = Decimal(amount)
            tr.type = Transaction.TYPE_CARD if label.startswith('CB') else Transaction.TYPE_TRANSFER
            yield tr


class BankdPassModule(Module, CapBank):
    NAME = 'bankdpass'
    DESCRIPTION = 'Banque Pass (test)'
    MAINTAINER = 'bankd'
    EMAIL = 'bankd@example.invalid'
    LICENSE = 'LGPLv3+'
    VERSION = '3.7'
    CONFIG = BackendConfig(
        ValueBackendPassword('login', label='Identifiant', masked=False),
        ValueBackendPassword('password', label='Code secret', regexp=r'^\d{6}$'),
    )
    BROWSER = BankdPassBrowser

    def create_default_browser(self):
        return self.create_browser(self.config['login'].get(), self.config['password'].get())

    def iter_accounts(self):
        return self.browser.iter_accounts()

    def iter_history(self, account):
        return self.browser.iter_history(account)

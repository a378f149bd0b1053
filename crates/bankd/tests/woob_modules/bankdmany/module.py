"""A fake bank for bankd's tests with many accounts: 10 checking accounts
M-01..M-10 of 20 transactions each. Password 1234.

Login `hang`: logs in and lists the accounts, but the history never comes
(iter_history sleeps an hour), to test that bankd kills a helper that
exceeds its timeout.
"""

import datetime
import time
from decimal import Decimal

from woob.browser import LoginBrowser, need_login
from woob.capabilities.bank import Account, CapBank, Transaction
from woob.exceptions import BrowserIncorrectPassword
from woob.tools.backend import BackendConfig, Module
from woob.tools.value import ValueBackendPassword

HANG_SECONDS = 3600


class BankdManyBrowser(LoginBrowser):
    logged = False  # read by @need_login

    def do_login(self):
        if self.password != '1234':
            raise BrowserIncorrectPassword('Identifiant ou mot de passe incorrect')
        self.logged = True

    @need_login
    def iter_accounts(self):
        accounts = []
        for n in range(1, 11):
            account = Account(f'M-{n:02d}')
            account.label = f'Compte courant n°{n}'
            account.number = account.id
            account.type = Account.TYPE_CHECKING
            account.currency = 'EUR'
            account.balance = Decimal(100 * n) + Decimal('0.25')
            accounts.append(account)
        return accounts

    @need_login
    def iter_history(self, account):
        if self.username == 'hang':
            time.sleep(HANG_SECONDS)
        today = datetime.date.today()
        for i in range(1, 21):  # newest first, like woob
            tr = Transaction(f'{account.id}-T{i:02d}')
            tr.date = today - datetime.timedelta(days=i)
            tr.raw = tr.label = f'CB COMMERCE {i}'
            tr.amount = -Decimal(i) - Decimal('0.50')
            tr.type = Transaction.TYPE_CARD
            yield tr


class BankdManyModule(Module, CapBank):
    NAME = 'bankdmany'
    DESCRIPTION = 'Banque Dix Comptes (test)'
    MAINTAINER = 'bankd'
    EMAIL = 'bankd@example.invalid'
    LICENSE = 'LGPLv3+'
    VERSION = '3.7'
    CONFIG = BackendConfig(
        ValueBackendPassword('login', label='Identifiant', masked=False),
        ValueBackendPassword('password', label='Mot de passe'),
    )
    BROWSER = BankdManyBrowser

    def create_default_browser(self):
        return self.create_browser(self.config['login'].get(), self.config['password'].get())

    def iter_accounts(self):
        return self.browser.iter_accounts()

    def iter_history(self, account):
        return self.browser.iter_history(account)

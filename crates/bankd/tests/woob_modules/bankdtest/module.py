"""A fake bank for bankd's tests: CapBank, no network, deterministic data.

Logins: `unavailable` -> BrowserUnavailable, `terms` -> ActionNeeded,
`otp` -> SMS code question (code 123456, then trusted via storage),
anything else -> two accounts. The password is always 1234.

Fault switch, for bankd's fault tests: while a file named `bankdtest-fault-<login>` exists in
woob's work directory (`WOOB_WORKDIR`, which each bankd sets to its own), listing the accounts makes the helper process die
(the file says `die`) or hang (`hang`), as a module crashing the interpreter or stuck on a
socket would.
"""

import datetime
import os
import time
from decimal import Decimal

from woob.browser import LoginBrowser, need_login
from woob.capabilities.bank import Account, CapBank, Transaction
from woob.exceptions import (
    ActionNeeded, BrowserIncorrectPassword, BrowserQuestion, BrowserUnavailable,
)
from woob.tools.backend import BackendConfig, Module
from woob.tools.value import Value, ValueBackendPassword, ValueTransient

CHECKING_ID = '00012345678'
SAVINGS_ID = '00098765432'
LABELS = ['CB CARREFOUR MARKET', 'PRLV EDF', 'CB SNCF', 'CB BOULANGERIE', 'RETRAIT DAB']


class WrongCode(BrowserQuestion):
    # A module-specific subclass on purpose: the bridge reports it as
    # BrowserQuestion.
    def __init__(self):
        super().__init__(Value('otp', label='Code SMS', description='Wrong code, a new one was sent'))


class BankdTestBrowser(LoginBrowser):
    logged = False  # read by @need_login

    def __init__(self, config, storage, *args, **kwargs):
        super().__init__(config['login'].get(), config['password'].get(), *args, **kwargs)
        self.config = config
        self.store = storage

    def do_login(self):
        if self.password != '1234':
            raise BrowserIncorrectPassword('Identifiant ou mot de passe incorrect', bad_fields=['password'])
        if self.username == 'unavailable':
            raise BrowserUnavailable('Site en maintenance')
        if self.username == 'terms':
            raise ActionNeeded('Accept the new terms')
        if self.username == 'otp' and not self.store.get('trusted', default=False):
            code = self.config['otp'].get()
            # As a real bank: a code answers the SMS this login sent, which the storage remembers.
            if not code or not self.store.get('sms_sent', default=False):
                self.store.set('sms_sent', True)
                raise BrowserQuestion(Value('otp', label='Code SMS'))
            if code != '123456':
                raise WrongCode()
            self.store.delete('sms_sent')
            self.store.set('trusted', True)
        self.logged = True

    def fault(self):
        folder = os.environ.get('WOOB_WORKDIR')
        if not folder:
            return None
        try:
            with open(os.path.join(folder, f'bankdtest-fault-{self.username}')) as switch:
                return switch.read().strip()
        except OSError:
            return None

    @need_login
    def iter_accounts(self):
        fault = self.fault()
        if fault == 'die':
            os._exit(3)
        if fault == 'hang':
            time.sleep(3600)
        checking = Account(CHECKING_ID)
        checking.label = 'Compte courant'
        checking.number = CHECKING_ID
        checking.iban = 'FR7630006000011234567890189'
        checking.type = Account.TYPE_CHECKING
        checking.currency = 'EUR'
        checking.balance = Decimal('1234.56')
        checking.coming = Decimal('-54.20')
        savings = Account(SAVINGS_ID)
        savings.label = 'Livret A'
        savings.number = SAVINGS_ID
        savings.type = Account.TYPE_SAVINGS
        savings.currency = 'EUR'
        savings.balance = Decimal('5000.00')
        return [checking, savings]

    @need_login
    def iter_history(self, account):
        today = datetime.date.today()
        if account.id == CHECKING_ID:
            # T1 is yesterday, T30 thirty days ago: newest first, like woob.
            for i in range(1, 31):
                tr = Transaction(f'T{i}')
                tr.date = tr.vdate = today - datetime.timedelta(days=i)
                if i % 10 == 0:
                    tr.raw = tr.label = 'VIR SALAIRE ACME'
                    tr.amount = Decimal('1500.00')
                    tr.type = Transaction.TYPE_TRANSFER
                else:
                    tr.raw = LABELS[i % len(LABELS)]
                    tr.label = tr.raw.title()
                    tr.amount = -Decimal(f'{i}.30')
                    tr.type = Transaction.TYPE_CARD
                    tr.rdate = tr.date - datetime.timedelta(days=1)
                yield tr
        else:
            for i, (days, amount, label) in enumerate(
                [(5, '100.00', 'VIR EPARGNE'), (40, '75.12', 'INTERETS'), (70, '-200.00', 'VIR VERS COMPTE')],
                start=1,
            ):
                tr = Transaction(f'S{i}')
                tr.date = today - datetime.timedelta(days=days)
                tr.raw = tr.label = label
                tr.amount = Decimal(amount)
                tr.type = Transaction.TYPE_BANK if label == 'INTERETS' else Transaction.TYPE_TRANSFER
                yield tr

    @need_login
    def iter_coming(self, account):
        if account.id != CHECKING_ID:
            raise NotImplementedError()  # like real modules for savings
        today = datetime.date.today()
        for i, (days, amount, label, kind) in enumerate(
            [(2, '-42.00', 'CB FNAC', Transaction.TYPE_DEFERRED_CARD),
             (5, '-12.20', 'PRLV FREE MOBILE', Transaction.TYPE_ORDER)],
            start=1,
        ):
            tr = Transaction(f'C{i}')
            tr.date = today + datetime.timedelta(days=days)
            tr.raw = tr.label = label
            tr.amount = Decimal(amount)
            tr.type = kind
            tr.coming = True
            yield tr


class BankdTestModule(Module, CapBank):
    NAME = 'bankdtest'
    DESCRIPTION = 'bankd test bank (offline)'
    MAINTAINER = 'bankd'
    EMAIL = 'bankd@example.invalid'
    LICENSE = 'LGPLv3+'
    CONFIG = BackendConfig(
        Value('login', label='Identifiant'),
        ValueBackendPassword('password', label='Mot de passe'),
        ValueTransient('otp', label='Code SMS'),
    )
    BROWSER = BankdTestBrowser

    def create_default_browser(self):
        return self.create_browser(self.config, self.storage)

    def iter_accounts(self):
        return self.browser.iter_accounts()

    def iter_history(self, account):
        return self.browser.iter_history(account)

    def iter_coming(self, account):
        return self.browser.iter_coming(account)

"""A fake bank for bankd's tests with the two kinds of strong authentication.

Password 1234. Login `otp`: an SMS code (123456) is asked, only when a user
is there (`request_information` set, else NeedInteractiveFor2FA). Login
`decoupled`: the connection is validated in the bank's app, then the login
is resumed (`resume`). Either way the device is then trusted (storage) and
the next logins need no second factor. Any other login: no second factor.
Two accounts once logged in.
"""

from decimal import Decimal

from woob.browser import LoginBrowser, need_login
from woob.capabilities.bank import Account, CapBank
from woob.exceptions import (
    AppValidation, BrowserIncorrectPassword, BrowserQuestion, NeedInteractiveFor2FA,
)
from woob.tools.backend import BackendConfig, Module
from woob.tools.value import Value, ValueBackendPassword, ValueTransient


def otp_question(description=None):
    return BrowserQuestion(Value(
        'otp', label='Code reçu par SMS', regexp=r'^\d{6}$',
        description=description or 'Code reçu par SMS'))


class Bankd2faBrowser(LoginBrowser):
    logged = False  # read by @need_login

    def __init__(self, config, storage, *args, **kwargs):
        super().__init__(config['login'].get(), config['password'].get(), *args, **kwargs)
        self.config = config
        self.store = storage

    def do_login(self):
        if self.password != '1234':
            raise BrowserIncorrectPassword('Identifiant ou mot de passe incorrect', bad_fields=['password'])
        if not self.store.get('trusted', default=False):
            if self.username == 'otp':
                self.check_otp()
            elif self.username == 'decoupled':
                self.check_app_validation()
        self.logged = True

    def check_otp(self):
        if self.config['request_information'].get() is None:
            # Nobody to type the code in (a background sync): do not send an SMS.
            raise NeedInteractiveFor2FA()
        code = self.config['otp'].get()
        # As a real bank: a code answers the SMS this login sent, which the storage remembers.
        if not code or not self.store.get('sms_sent', default=False):
            self.store.set('sms_sent', True)
            raise otp_question()
        if code != '123456':
            raise otp_question('Code erroné, un nouveau code a été envoyé')
        self.store.delete('sms_sent')
        self.store.set('trusted', True)

    def check_app_validation(self):
        # Resuming only completes a validation this login started.
        if not self.config['resume'].get() or not self.store.get('app_pending', default=False):
            self.store.set('app_pending', True)
            raise AppValidation('Validez la connexion dans votre application')
        self.store.delete('app_pending')
        self.store.set('trusted', True)

    @need_login
    def iter_accounts(self):
        accounts = []
        for id_, label, kind, balance in [
            ('F-1', 'Compte chèques', Account.TYPE_CHECKING, '450.10'),
            ('F-2', 'Livret Jeune', Account.TYPE_SAVINGS, '1600.00'),
        ]:
            account = Account(id_)
            account.label = label
            account.type = kind
            account.currency = 'EUR'
            account.balance = Decimal(balance)
            accounts.append(account)
        return accounts

    @need_login
    def iter_history(self, account):
        return iter(())


class Bankd2faModule(Module, CapBank):
    NAME = 'bankd2fa'
    DESCRIPTION = 'Banque Double Facteur (test)'
    MAINTAINER = 'bankd'
    EMAIL = 'bankd@example.invalid'
    LICENSE = 'LGPLv3+'
    VERSION = '3.7'
    CONFIG = BackendConfig(
        ValueBackendPassword('login', label='Identifiant', masked=False),
        ValueBackendPassword('password', label='Mot de passe'),
        ValueTransient('otp', label='Code reçu par SMS', regexp=r'^\d{6}$'),
        ValueTransient('resume', label='Reprise après validation dans l’application'),
        ValueTransient('request_information', label='Informations sur l’utilisateur présent'),
    )
    BROWSER = Bankd2faBrowser

    def create_default_browser(self):
        return self.create_browser(self.config, self.storage)

    def iter_accounts(self):
        return self.browser.iter_accounts()

    def iter_history(self, account):
        return self.browser.iter_history(account)

"""A fake bank for bankd's tests whose website shows a captcha: its config
has a transient `captcha_response`, which bankd cannot answer for the user,
so bankd must flag the module. Logging in always asks for the captcha.
"""

from woob.browser import LoginBrowser
from woob.capabilities.bank import CapBank
from woob.exceptions import BrowserIncorrectPassword, BrowserQuestion
from woob.tools.backend import BackendConfig, Module
from woob.tools.value import Value, ValueBackendPassword, ValueTransient


class BankdCaptchaBrowser(LoginBrowser):
    def do_login(self):
        if self.password != '1234':
            raise BrowserIncorrectPassword('Identifiant ou mot de passe incorrect')
        raise BrowserQuestion(Value('captcha_response', label='Recopiez les caractères de l’image'))


class BankdCaptchaModule(Module, CapBank):
    NAME = 'bankdcaptcha'
    DESCRIPTION = 'Banque Captcha (test)'
    MAINTAINER = 'bankd'
    EMAIL = 'bankd@example.invalid'
    LICENSE = 'LGPLv3+'
    VERSION = '3.7'
    CONFIG = BackendConfig(
        ValueBackendPassword('login', label='Identifiant', masked=False),
        ValueBackendPassword('password', label='Mot de passe'),
        ValueTransient('captcha_response', label='Captcha'),
    )
    BROWSER = BankdCaptchaBrowser

    def create_default_browser(self):
        return self.create_browser(self.config['login'].get(), self.config['password'].get())

    def iter_accounts(self):
        return self.browser.iter_accounts()

"""A fake network of regional banks for bankd's tests: the customer first
picks a regional website (a long choice list), then logs in.

Any login with password 1234 logs in; one account whose label names the
chosen region. Other passwords -> BrowserIncorrectPassword.
"""

from decimal import Decimal

from woob.browser import LoginBrowser, need_login
from woob.capabilities.bank import Account, CapBank
from woob.exceptions import BrowserIncorrectPassword
from woob.tools.backend import BackendConfig, Module
from woob.tools.value import Value, ValueBackendPassword

# Invented regions on reserved .test domains, in the order they are offered.
REGIONS = {
    f'www.banque-{slug}.test': label
    for slug, label in [
        ('alpes-provence', 'Alpes Provence'), ('alsace-vosges', 'Alsace Vosges'),
        ('anjou-maine', 'Anjou et Maine'), ('aquitaine', 'Aquitaine'),
        ('atlantique-vendee', 'Atlantique Vendée'), ('brie-picardie', 'Brie Picardie'),
        ('centre-est', 'Centre Est'), ('centre-france', 'Centre France'),
        ('centre-loire', 'Centre Loire'), ('centre-ouest', 'Centre Ouest'),
        ('champagne-bourgogne', 'Champagne Bourgogne'), ('charente-maritime', 'Charente-Maritime Deux-Sèvres'),
        ('cotes-armor', "Côtes d'Armor"), ('finistere', 'Finistère'),
        ('franche-comte', 'Franche-Comté'), ('gascogne', 'Gascogne'),
        ('guadeloupe', 'Guadeloupe'), ('ille-vilaine', 'Ille-et-Vilaine'),
        ('languedoc', 'Languedoc'), ('loire-haute-loire', 'Loire Haute-Loire'),
        ('lorraine', 'Lorraine'), ('martinique', 'Martinique Guyane'),
        ('morbihan', 'Morbihan'), ('nord-est', 'Nord Est'),
        ('nord-france', 'Nord de France'), ('normandie', 'Normandie'),
        ('normandie-seine', 'Normandie-Seine'), ('paris', 'Paris et Île-de-France'),
        ('provence-cote-azur', "Provence Côte d'Azur"), ('pyrenees-gascogne', 'Pyrénées Gascogne'),
        ('reunion', 'La Réunion'), ('savoie', 'Des Savoie'),
        ('sud-mediterranee', 'Sud Méditerranée'), ('sud-rhone-alpes', 'Sud Rhône Alpes'),
        ('toulouse', 'Toulouse 31'), ('touraine-poitou', 'Touraine Poitou'),
    ]
}
DEFAULT_REGION = 'www.banque-paris.test'


class BankdRegionsBrowser(LoginBrowser):
    logged = False  # read by @need_login

    def __init__(self, website, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.website = website

    def do_login(self):
        if self.password != '1234':
            raise BrowserIncorrectPassword('Identifiant ou mot de passe incorrect')
        self.logged = True

    @need_login
    def iter_accounts(self):
        account = Account('R-1')
        account.label = f'Compte courant {REGIONS[self.website]}'
        account.type = Account.TYPE_CHECKING
        account.currency = 'EUR'
        account.balance = Decimal('321.00')
        return [account]

    @need_login
    def iter_history(self, account):
        return iter(())


class BankdRegionsModule(Module, CapBank):
    NAME = 'bankdregions'
    DESCRIPTION = 'Banque Régionale (test)'
    MAINTAINER = 'bankd'
    EMAIL = 'bankd@example.invalid'
    LICENSE = 'LGPLv3+'
    VERSION = '3.7'
    CONFIG = BackendConfig(
        Value('website', label='Banque régionale', choices=REGIONS, default=DEFAULT_REGION),
        ValueBackendPassword('login', label='Identifiant', masked=False),
        ValueBackendPassword('password', label='Mot de passe'),
    )
    BROWSER = BankdRegionsBrowser

    def create_default_browser(self):
        return self.create_browser(
            self.config['website'].get(), self.config['login'].get(), self.config['password'].get())

    def iter_accounts(self):
        return self.browser.iter_accounts()

    def iter_history(self, account):
        return self.browser.iter_history(account)

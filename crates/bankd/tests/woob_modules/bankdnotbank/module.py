"""A woob module that is no bank (weather forecasts), for bankd's tests:
bankd must not offer it as a bank. Offline, answers nothing.
"""

from woob.capabilities.weather import CapWeather
from woob.tools.backend import Module


class BankdNotBankModule(Module, CapWeather):
    NAME = 'bankdnotbank'
    DESCRIPTION = 'Météo du jardin (test)'
    MAINTAINER = 'bankd'
    EMAIL = 'bankd@example.invalid'
    LICENSE = 'LGPLv3+'
    VERSION = '3.7'

    def iter_city_search(self, pattern):
        return iter(())

    def get_current(self, city_id):
        return None

    def iter_forecast(self, city_id):
        return iter(())

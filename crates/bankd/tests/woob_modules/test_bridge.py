#!/usr/bin/env python3
"""Smoke test of bankd_woob.py against the offline woob modules beside it
(`bankdtest` for a whole session, the others for `modules`, the credential
forms and the second factors), plus `update` against a loopback repository.

Run with the python that has woob installed:
    /tmp/woob/bin/python crates/bankd/tests/woob_modules/test_bridge.py
(or set BANKD_WOOB_PYTHON). Exits non-zero on the first failure.
"""

import datetime
import functools
import http.server
import json
import os
import select
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
HELPER = os.path.join(HERE, '..', '..', 'woob', 'bankd_woob.py')
PYTHON = os.environ.get('BANKD_WOOB_PYTHON', sys.executable)
CHECKING, SAVINGS = '00012345678', '00098765432'
FIXTURES = ['bankd2fa', 'bankdcaptcha', 'bankdmany', 'bankdmissing', 'bankdnotbank',
            'bankdoptions', 'bankdpass', 'bankdregions', 'bankdtest']
MODULE_KEYS = {'name', 'bank', 'loads', 'error', 'missing', 'description', 'version', 'license',
               'maintainer', 'selenium', 'captcha', 'icon', 'config'}
NOT_THERE = 'bankd-nonexistent-package-for-tests'


class Helper:
    def __init__(self, env=None):
        self.proc = subprocess.Popen(
            [PYTHON, HELPER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=env, text=True, bufsize=1)
        self.next_id = 0

    def call(self, method, params=None):
        self.next_id += 1
        request = {'id': self.next_id, 'method': method}
        if params is not None:
            request['params'] = params
        self.proc.stdin.write(json.dumps(request) + '\n')
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f'helper died on {method}'
        answer = json.loads(line)
        assert answer['id'] == self.next_id, answer
        return answer

    def ok(self, method, params=None):
        answer = self.call(method, params)
        assert 'result' in answer, f'{method}: {answer}'
        return answer['result']

    def err(self, method, params=None):
        answer = self.call(method, params)
        assert 'error' in answer, f'{method} should fail: {answer}'
        return answer['error']

    def login(self, login, password='1234', storage=None, module='bankdtest', **extra):
        return self.call('login', {
            'module': module, 'modules_path': HERE,
            'config': {'login': login, 'password': password, **extra},
            'storage': storage,
        })

    def close(self):
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0

    def answers_within(self, seconds):
        return bool(select.select([self.proc.stdout], [], [], seconds)[0])

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=30)


def main():
    today = datetime.date.today()
    h = Helper()

    assert h.ok('check')['woob'], 'no woob version'

    # Demo customer: two accounts, history cut at `since`, coming, storage.
    assert h.login('demo', unknown_key='ignored') == {'id': h.next_id, 'result': {}}
    accounts = {a['id']: a for a in h.ok('accounts')}
    assert len(accounts) == 2, accounts
    checking, savings = accounts[CHECKING], accounts[SAVINGS]
    assert checking == {
        'id': CHECKING, 'label': 'Compte courant', 'number': CHECKING,
        'iban': 'FR7630006000011234567890189', 'type': 'checking', 'currency': 'EUR',
        'balance': '1234.56', 'coming': '-54.20'}, checking
    assert savings['iban'] is None and savings['number'] == SAVINGS, savings
    assert savings['type'] == 'savings' and savings['balance'] == '5000.00', savings

    full = h.ok('history', {'account': CHECKING, 'since': None})
    assert [t['id'] for t in full] == [f'T{i}' for i in range(1, 31)], full
    since = today - datetime.timedelta(days=10)
    recent = h.ok('history', {'account': CHECKING, 'since': since.isoformat()})
    assert [t['id'] for t in recent] == [f'T{i}' for i in range(1, 11)], recent
    t1, t10 = recent[0], recent[9]
    assert t1['date'] == (today - datetime.timedelta(days=1)).isoformat(), t1
    assert t1['amount'] == '-1.30' and t1['type'] == 'card' and t1['raw'] == 'PRLV EDF', t1
    assert t1['rdate'] and t1['vdate'] == t1['date'], t1
    assert t10['amount'] == '1500.00' and t10['type'] == 'transfer' and t10['rdate'] is None, t10
    assert len(h.ok('history', {'account': SAVINGS, 'since': None})) == 3

    coming = h.ok('coming', {'account': CHECKING})
    assert [(t['id'], t['amount'], t['type']) for t in coming] == [
        ('C1', '-42.00', 'deferred_card'), ('C2', '-12.20', 'order')], coming
    assert h.ok('coming', {'account': SAVINGS}) == []  # NotImplementedError -> []
    assert h.ok('storage') == {}

    assert h.err('history', {'account': 'nope', 'since': None})['kind'] == 'AccountNotFound'
    assert h.err('frobnicate')['kind'] == 'BadRequest'

    # Failures.
    e = h.login('demo', password='0000')['error']
    assert e['kind'] == 'BrowserIncorrectPassword' and e['message'], e
    e = h.login('unavailable')['error']
    assert e['kind'] == 'BrowserUnavailable', e
    e = h.login('terms')['error']
    assert e == {'kind': 'ActionNeeded', 'message': 'Accept the new terms', 'fields': []}, e
    e = h.call('login', {'module': 'nosuchmodule', 'modules_path': HERE, 'config': {}, 'storage': None})['error']
    assert e['kind'] == 'ModuleLoadError', e

    # SMS code: asked, wrong, right (then trusted through the storage).
    e = h.login('otp')['error']
    assert e['kind'] == 'BrowserQuestion', e
    assert e['fields'] == [{'name': 'otp', 'label': 'Code SMS', 'type': 'text', 'regexp': None}], e
    asked = h.ok('storage')
    assert asked.get('sms_sent') is True, asked
    e = h.login('otp', otp='123456')['error']
    assert e['kind'] == 'BrowserQuestion', 'a code without the storage of its SMS is refused'
    e = h.login('otp', otp='000000', storage=asked)['error']
    assert e['kind'] == 'BrowserQuestion' and 'Wrong code' in e['message'], e
    assert 'result' in h.login('otp', otp='123456', storage=asked)
    assert len(h.ok('accounts')) == 2
    storage = h.ok('storage')
    assert storage.get('trusted') is True, storage
    h.close()

    # A new process (as bankd after a restart) with the sealed storage only.
    h = Helper()
    assert 'result' in h.login('otp', storage=json.loads(json.dumps(storage)))
    assert len(h.ok('accounts')) == 2
    assert h.ok('storage')['trusted'] is True
    assert h.login('otp')['error']['kind'] == 'BrowserQuestion'  # no storage: asked again
    h.close()

    # woob not importable: `check` still answers, with WoobMissing.
    with tempfile.TemporaryDirectory() as fake:
        os.mkdir(os.path.join(fake, 'woob'))
        with open(os.path.join(fake, 'woob', '__init__.py'), 'w') as f:
            f.write("raise ImportError('no woob here', name='woob')\n")
        h = Helper(env={**os.environ, 'PYTHONPATH': fake})
        e = h.err('check')
        assert e['kind'] == 'WoobMissing', e
        h.close()

    h = Helper()
    check_modules(h)
    check_broken_modules(h)
    check_credential_forms(h)
    check_otp(h)
    check_app_validation(h)
    check_many(h)
    h.close()
    check_update()

    print('test_bridge: ok')


def entry(key, kind, label, masked=False, regexp=None, required=True, default=None, choices=None):
    return {'key': key, 'kind': kind, 'label': label, 'masked': masked, 'regexp': regexp,
            'required': required, 'default': default, 'choices': choices}


def check_modules(h):
    modules = h.ok('modules', {'modules_path': HERE, 'names': None})
    assert [m['name'] for m in modules] == FIXTURES, [m['name'] for m in modules]
    by_name = {m['name']: m for m in modules}
    for name, m in by_name.items():
        assert set(m) == MODULE_KEYS, m
        assert m['bank'] == (name != 'bankdnotbank'), m
        assert m['loads'] == (name != 'bankdmissing'), m
        assert (m['error'] is None) == m['loads'], m
        assert m['captcha'] == (name == 'bankdcaptcha'), m
        assert m['selenium'] is False, m
        assert (m['icon'] is None) == (name != 'bankdpass'), m

    # Not loadable: named as such, with what to install; bank told from its source.
    missing = by_name['bankdmissing']
    assert missing['bank'] and not missing['loads'] and missing['config'] == [], missing
    assert missing['missing'] == [NOT_THERE] and NOT_THERE in missing['error'], missing
    assert missing['description'] is None and missing['maintainer'] is None, missing

    password = by_name['bankdpass']
    assert password['missing'] == [] and password['description'] == 'Banque Pass (test)', password
    assert (password['version'], password['license'], password['maintainer']) == (
        '3.7', 'LGPLv3+', 'bankd <bankd@example.invalid>'), password
    assert password['icon'] == os.path.join(HERE, 'bankdpass', 'favicon.png'), password
    assert password['config'] == [
        entry('login', 'password', 'Identifiant'),
        entry('password', 'password', 'Code secret', masked=True, regexp=r'^\d{6}$'),
    ], password['config']
    assert by_name['bankdtest']['version'] is None  # no VERSION in its class

    website, login, secret = by_name['bankdregions']['config']
    assert (website['key'], website['kind'], website['required']) == ('website', 'choice', False), website
    values = [value for value, _ in website['choices']]
    assert len(values) >= 32 and len(set(values)) == len(values), website
    assert values[0] == 'www.banque-alpes-provence.test', values  # the module's order, not sorted
    assert website['default'] == 'www.banque-paris.test' != values[0], website
    assert ['www.banque-paris.test', 'Paris et Île-de-France'] in website['choices'], website
    assert (login['masked'], secret['masked']) == (False, True), (login, secret)

    assert by_name['bankdoptions']['config'] == [
        entry('login', 'password', 'Identifiant'),
        entry('password', 'password', 'Mot de passe', masked=True),
        entry('pro', 'bool', 'Espace professionnel', required=False, default='false'),
        entry('birthday', 'date', 'Date de naissance', required=False),
        entry('card_digits', 'int', 'Nombre de chiffres', regexp=r'^\d+$', required=False, default='4'),
    ], by_name['bankdoptions']['config']

    two_factors = {c['key']: c for c in by_name['bankd2fa']['config']}
    assert list(two_factors) == ['login', 'password', 'otp', 'resume', 'request_information'], two_factors
    for key in ('otp', 'resume', 'request_information'):
        assert two_factors[key]['kind'] == 'transient' and not two_factors[key]['required'], two_factors[key]
    assert two_factors['otp']['regexp'] == r'^\d{6}$', two_factors['otp']
    captcha = by_name['bankdcaptcha']['config'][-1]
    assert (captcha['key'], captcha['kind']) == ('captcha_response', 'transient'), captcha
    assert by_name['bankdnotbank']['config'] == [] and by_name['bankdnotbank']['loads']

    # `names` filters (unknown names are left out); bad requests are told.
    some = h.ok('modules', {'modules_path': HERE, 'names': ['bankdpass', 'bankdnotbank', 'nosuch']})
    assert [m['name'] for m in some] == ['bankdnotbank', 'bankdpass'], some
    assert some[1] == password
    assert h.ok('modules', {'modules_path': HERE, 'names': []}) == []
    assert h.err('modules', {'modules_path': HERE, 'names': 'bankdpass'})['kind'] == 'BadRequest'
    assert h.err('modules', {'modules_path': os.path.join(HERE, 'nope'), 'names': None})['kind'] == 'BadRequest'


BROKEN = {
    'brokenraise': "raise RuntimeError('boom at import')\n",
    'brokenexit': 'raise SystemExit(3)\n',
    'brokensyntax': 'def (:\n',
    'brokennetwork': "import socket\nsocket.create_connection(('bank.example', 443), timeout=5)\n",
    'brokennomodule': 'X = 1\n',  # imports, but defines no woob Module
    # Told from its text only: selenium is not installed.
    'brokenselenium': ('from woob.browser.selenium import SeleniumBrowser\n'
                       'from woob.capabilities.bank import CapBank\n'
                       "CAPTCHA_KEY = 'captcha_response'\n"),
}


def check_broken_modules(h):
    # Modules that blow up on import: each reported, the helper unharmed.
    with tempfile.TemporaryDirectory() as path:
        for name, code in BROKEN.items():
            os.mkdir(os.path.join(path, name))
            with open(os.path.join(path, name, '__init__.py'), 'w') as f:
                f.write(code)
        os.mkdir(os.path.join(path, '_private'))
        open(os.path.join(path, '_private', '__init__.py'), 'w').close()
        os.mkdir(os.path.join(path, 'notamodule'))  # no __init__.py
        modules = h.ok('modules', {'modules_path': path, 'names': None})
    assert [m['name'] for m in modules] == sorted(BROKEN), modules
    for m in modules:
        assert not m['loads'] and m['error'] and m['config'] == [], m
        told = m['name'] == 'brokenselenium'
        assert (m['bank'], m['selenium'], m['captcha']) == (told, told, told), m
    errors = {m['name']: m['error'] for m in modules}
    assert 'boom at import' in errors['brokenraise'], errors
    assert errors['brokenexit'] == 'SystemExit: 3', errors
    assert 'network access refused' in errors['brokennetwork'], errors  # never reaches the network
    assert h.ok('check')['woob']


def check_credential_forms(h):
    e = h.login('alice', password='654321', module='bankdpass')['error']
    assert e['kind'] == 'BrowserIncorrectPassword', e
    e = h.login('alice', password='12', module='bankdpass')['error']
    assert e['kind'] == 'ConfigError', e  # woob's own check of the regexp
    assert 'result' in h.login('alice', password='123456', module='bankdpass')
    accounts = h.ok('accounts')
    assert [(a['id'], a['type']) for a in accounts] == [('P-1', 'checking')], accounts
    assert [t['id'] for t in h.ok('history', {'account': 'P-1', 'since': None})] == [f'P{i}' for i in range(1, 6)]

    assert 'result' in h.login('bob', module='bankdregions', website='www.banque-savoie.test')
    assert 'Des Savoie' in h.ok('accounts')[0]['label']
    assert 'result' in h.login('bob', module='bankdregions')  # the module's default region
    assert 'Paris et Île-de-France' in h.ok('accounts')[0]['label']
    e = h.login('bob', module='bankdregions', website='www.elsewhere.test')['error']
    assert e['kind'] == 'ConfigError', e

    assert 'result' in h.login('carol', module='bankdoptions')
    assert h.ok('accounts')[0]['label'] == 'Compte particulier (carte 4 chiffres)'
    assert 'result' in h.login('carol', module='bankdoptions', pro='true', birthday='1990-05-17', card_digits='6')
    assert h.ok('accounts')[0]['label'] == 'Compte pro (carte 6 chiffres, né le 1990-05-17)'

    e = h.login('dave', module='bankdcaptcha')['error']
    assert e['kind'] == 'BrowserQuestion' and e['fields'][0]['name'] == 'captcha_response', e


USER_PRESENT = {'User-Agent': 'bankd test', 'X-Forwarded-For': '192.0.2.1'}


def check_otp(h):
    # bankd's way: read the storage after every login, give it to the next.
    def login(storage, **extra):
        answer = h.login('otp', module='bankd2fa', storage=storage, **extra)
        return answer, h.ok('storage')

    answer, storage = login(None)
    assert answer['error']['kind'] == 'NeedInteractiveFor2FA', answer  # no user, no SMS
    assert storage == {}, storage
    answer, storage = login(storage, request_information=USER_PRESENT)
    e = answer['error']
    assert e['kind'] == 'BrowserQuestion', e
    assert e['fields'] == [{'name': 'otp', 'label': 'Code reçu par SMS', 'type': 'text',
                            'regexp': r'^\d{6}$'}], e
    assert storage.get('sms_sent') is True, storage
    answer, storage = login(storage, request_information=USER_PRESENT, otp='000000')
    assert answer['error']['kind'] == 'BrowserQuestion' and 'erroné' in answer['error']['message'], answer
    answer, _ = login(None, request_information=USER_PRESENT, otp='123456')
    assert answer['error']['kind'] == 'BrowserQuestion', 'a code without the storage of its SMS is refused'
    answer, storage = login(storage, request_information=USER_PRESENT, otp='123456')
    assert 'result' in answer, answer
    assert storage.get('trusted') is True and 'sms_sent' not in storage, storage
    assert [a['id'] for a in h.ok('accounts')] == ['F-1', 'F-2']
    answer, storage = login(storage)  # trusted: a background sync needs nobody
    assert 'result' in answer and len(h.ok('accounts')) == 2, answer


def check_app_validation(h):
    def login(storage, **extra):
        answer = h.login('decoupled', module='bankd2fa', storage=storage, **extra)
        return answer, h.ok('storage')

    answer, storage = login(None)
    e = answer['error']
    assert e == {'kind': 'AppValidation', 'message': 'Validez la connexion dans votre application', 'fields': []}, e
    assert storage.get('app_pending') is True, storage
    answer, _ = login(None, resume=True)
    assert answer['error']['kind'] == 'AppValidation', 'resuming needs the validation this login started'
    answer, storage = login(storage, resume=True)
    assert 'result' in answer, answer
    assert storage.get('trusted') is True and 'app_pending' not in storage, storage
    assert len(h.ok('accounts')) == 2
    answer, _ = login(storage)
    assert 'result' in answer, answer
    e = h.login('decoupled', password='0000', module='bankd2fa')['error']
    assert e['kind'] == 'BrowserIncorrectPassword', e


def check_many(h):
    assert 'result' in h.login('erin', module='bankdmany')
    accounts = h.ok('accounts')
    assert [a['id'] for a in accounts] == [f'M-{n:02d}' for n in range(1, 11)], accounts
    assert all(a['type'] == 'checking' for a in accounts), accounts
    history = h.ok('history', {'account': 'M-07', 'since': None})
    assert [t['id'] for t in history] == [f'M-07-T{i:02d}' for i in range(1, 21)], history

    # `hang`: accounts come, the history never does (bankd's timeout must kill it).
    hung = Helper()
    assert 'result' in hung.login('hang', module='bankdmany')
    assert len(hung.ok('accounts')) == 10
    hung.next_id += 1
    hung.proc.stdin.write(json.dumps({'id': hung.next_id, 'method': 'history',
                                      'params': {'account': 'M-01', 'since': None}}) + '\n')
    hung.proc.stdin.flush()
    assert not hung.answers_within(2), 'bankdmany/hang should not answer its history'
    hung.kill()


def woob_home(sources):
    home = tempfile.mkdtemp(prefix='bankd-woob-home-')
    os.mkdir(os.path.join(home, 'config'))
    with open(os.path.join(home, 'config', 'sources.list'), 'w') as f:
        f.write(sources + '\n')
    env = {**os.environ, 'WOOB_WORKDIR': os.path.join(home, 'config'),
           'WOOB_DATADIR': os.path.join(home, 'data'), 'NO_PROXY': '127.0.0.1', 'no_proxy': '127.0.0.1'}
    return home, env


REPOSITORY_INDEX = """[DEFAULT]
name = bankdtests
update = 202501010000
maintainer = bankd
signed = 0

[bankdpass]
version = 202501010000
capabilities = CapBank
description = Banque Pass (test)
maintainer = bankd
license = LGPLv3+
icon =
woob_spec = ~= 3.0

[bankdnotbank]
version = 202501010000
capabilities = CapWeather
description = Météo du jardin (test)
maintainer = bankd
license = LGPLv3+
icon =
woob_spec = ~= 3.0
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve_repository(folder):
    """A woob repository on loopback: its index and module tarballs."""
    with open(os.path.join(folder, 'modules.list'), 'w') as f:
        f.write(REPOSITORY_INDEX)
    for name in ('bankdpass', 'bankdnotbank'):
        with tarfile.open(os.path.join(folder, f'{name}.tar.gz'), 'w:gz') as tar:
            tar.add(os.path.join(HERE, name), arcname=name,
                    filter=lambda t: None if '__pycache__' in t.name else t)
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(QuietHandler, directory=folder))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def check_update():
    # A repository that is not there: an error answer, not a dead helper.
    home, env = woob_home('file:///nonexistent/')
    try:
        h = Helper(env=env)
        e = h.err('update', {})
        assert e['kind'] == 'ModuleInstallError' and '/nonexistent/' in e['message'], e
        assert h.ok('check')['woob']
        h.close()
    finally:
        shutil.rmtree(home)

    # A reachable one: its bank modules are installed, and `modules` reads them there.
    with tempfile.TemporaryDirectory() as folder:
        server = serve_repository(folder)
        home, env = woob_home(f'http://127.0.0.1:{server.server_address[1]}/')
        try:
            h = Helper(env=env)
            path = h.ok('update', {})['modules_path']
            assert path == os.path.join(home, 'data', 'modules', '3.7', 'woob_modules'), path
            modules = h.ok('modules', {'modules_path': path, 'names': None})
            assert [(m['name'], m['loads'], m['bank']) for m in modules] == [('bankdpass', True, True)], modules
            assert h.ok('update', {})['modules_path'] == path  # again: nothing to do
            h.close()
            # Python keeps one woob_modules.<name> per process: a namesake from
            # another folder is refused rather than described wrongly.
            h = Helper(env=env)
            assert h.ok('modules', {'modules_path': HERE, 'names': ['bankdpass']})[0]['loads']
            twin = h.ok('modules', {'modules_path': path, 'names': ['bankdpass']})[0]
            assert not twin['loads'] and 'already loaded' in twin['error'], twin
            h.close()
        finally:
            server.shutdown()
            server.server_close()
            shutil.rmtree(home)


if __name__ == '__main__':
    try:
        main()
    except AssertionError as exc:
        print(f'test_bridge: FAILED: {exc}', file=sys.stderr)
        raise SystemExit(1)

#!/usr/bin/env python3
"""Smoke test of bankd_woob.py against the offline `bankdtest` woob module.

Run with the python that has woob installed:
    /tmp/woob-venv/bin/python crates/bankd/tests/woob_modules/test_bridge.py
(or set BANKD_WOOB_PYTHON). Exits non-zero on the first failure.
"""

import datetime
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
HELPER = os.path.join(HERE, '..', '..', 'woob', 'bankd_woob.py')
PYTHON = os.environ.get('BANKD_WOOB_PYTHON', sys.executable)
CHECKING, SAVINGS = '00012345678', '00098765432'


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

    def login(self, login, password='1234', storage=None, **extra):
        return self.call('login', {
            'module': 'bankdtest', 'modules_path': HERE,
            'config': {'login': login, 'password': password, **extra},
            'storage': storage,
        })

    def close(self):
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0


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
    assert e['fields'] == [{'name': 'otp', 'label': 'Code SMS', 'type': 'text'}], e
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

    print('test_bridge: ok')


if __name__ == '__main__':
    try:
        main()
    except AssertionError as exc:
        print(f'test_bridge: FAILED: {exc}', file=sys.stderr)
        raise SystemExit(1)

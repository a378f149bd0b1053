#!/usr/bin/env python3
"""bankd <-> woob bridge: one JSON request per stdin line, one JSON answer per
stdout line ({"id", "result"} or {"id", "error": {"kind", "message", "fields"}}).
Methods: check, login, accounts, history, coming, storage;
tests/woob_modules/test_bridge.py drives a whole session.

One process drives at most one backend (the last `login`); bankd keeps the
credentials and the sealed storage, this helper keeps nothing on disk.
"""

import datetime
import decimal
import json
import logging
import sys
import traceback
from copy import deepcopy

# Woob modules may print(); only protocol lines may reach bankd's stdout.
_PROTO_OUT = sys.stdout
sys.stdout = sys.stderr

logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
logging.captureWarnings(True)  # woob's DeprecationWarnings go through logging (dropped below WARNING)
logging.getLogger('py.warnings').setLevel(logging.ERROR)

# Kinds bankd knows. A module's own exception subclass is reported as its
# nearest ancestor in this set (SentOTPQuestion -> BrowserQuestion, woob's
# HTTP ServerError -> BrowserHTTPError, a module's own ActionNeeded subclass ->
# ActionNeeded), so bankd never has to know module-specific class names.
KNOWN_KINDS = {
    'BrowserIncorrectPassword', 'BrowserPasswordExpired', 'AuthMethodNotImplemented',
    'ActionNeeded', 'BrowserUnavailable', 'BrowserQuestion', 'AppValidation',
    'AppValidationCancelled', 'AppValidationExpired', 'NeedInteractiveFor2FA',
    'NeedInteractive', 'ModuleInstallError', 'ModuleLoadError', 'ConfigError',
    'AccountNotFound', 'BrowserForbidden', 'BrowserTooManyRequests',
    'BrowserHTTPError', 'BrowserHTTPNotFound',
}
# Out-of-band validation (e-mail link...) is handled by bankd like an app one:
# show the message, let the user validate, log in again.
ALIASES = {'DecoupledValidation': 'AppValidation'}


class BadRequest(Exception):
    pass


class WoobMissing(Exception):
    pass


def error_kind(exc):
    try:
        import requests
        # Network down / timeouts are not woob exceptions but mean the same.
        if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
            return 'BrowserUnavailable'
    except ImportError:
        pass
    for klass in type(exc).__mro__:
        name = ALIASES.get(klass.__name__, klass.__name__)
        if name in KNOWN_KINDS or klass in (BadRequest, WoobMissing):
            return name
    return type(exc).__name__


class DictStorage:
    """woob IStorage over one plain dict: the storage of our single backend,
    so it round-trips through bankd as JSON (woob only offers a YAML file)."""

    def __init__(self, data):
        self.data = deepcopy(data) if data else {}

    def load(self, what, name, default={}):
        merged = deepcopy(default)
        merged.update(self.data)
        self.data = merged

    def save(self, what, name):
        pass

    def set(self, what, name, *args):
        node = self.data
        for key in args[:-2]:
            node = node.setdefault(key, {})
        node[args[-2]] = args[-1]

    def delete(self, what, name, *args):
        node = self.data
        for key in args[:-1]:
            node = node.get(key)
            if not isinstance(node, dict):
                return
        node.pop(args[-1], None)

    def get(self, what, name, *args, **kwargs):
        node = self.data
        for key in args:
            if not isinstance(node, dict) or key not in node:
                return kwargs.get('default')
            node = node[key]
        return node


def jsonable(value):
    """json.dumps fallback for what woob objects and browser states hold."""
    from woob.capabilities.base import empty
    if empty(value):
        return None
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return dec(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def dec(value):
    from woob.capabilities.base import empty
    if empty(value):
        return None
    value = decimal.Decimal(str(value)) if isinstance(value, float) else decimal.Decimal(value)
    # 'f' keeps every digit but never uses exponent notation ('0E-2' -> '0.00').
    return format(value, 'f') if value.is_finite() else None


def day(value):
    from woob.capabilities.base import empty
    if empty(value):
        return None
    if isinstance(value, datetime.datetime):
        value = value.date()
    return value.isoformat()


def text(value):
    from woob.capabilities.base import empty
    return None if empty(value) or value == '' else str(value)


def enum_name(enum, value):
    # woob enums are plain ints in a class namespace, not enum.Enum.
    for name, member in enum._items:
        if member == value:
            return name.lower()
    return 'unknown'


class Bridge:
    def __init__(self):
        self.woob = None
        self.backend = None
        self.accounts = {}

    def check(self, params):
        try:
            import woob
            import woob.core.woob  # pulls woob's dependencies (requests, lxml...) too
        except ImportError as exc:
            raise WoobMissing(str(exc)) from exc
        return {'woob': woob.__version__}

    def login(self, params):
        from woob.core.woob import Woob, WoobBase
        module = params.get('module')
        if not module:
            raise BadRequest('login needs a module')
        path = params.get('modules_path')
        if self.woob is None or self.woob.modules_path != path:
            # WoobBase loads modules straight from a directory; Woob uses the
            # repositories installed by `woob update` (~/.local/share/woob).
            self.woob = WoobBase(modules_path=path) if path else Woob()
        config = {k: v for k, v in (params.get('config') or {}).items() if v is not None}
        self.accounts = {}
        self.backend = None
        # Kept even if the login below fails: after a BrowserQuestion the
        # browser state (cookies of the half-done login) must reach `storage`.
        self.backend = self.woob.build_backend(
            module, config, storage=DictStorage(params.get('storage')), name=module)
        # Woob logs in lazily (@need_login); force it now so bad credentials
        # and 2FA surface here. Browser-less modules log in at `accounts`.
        browser = self.backend.browser
        if browser is not None and hasattr(browser, 'do_login'):
            browser.do_login()
        return {}

    def _backend(self):
        if self.backend is None:
            raise BadRequest('no backend: call login first')
        return self.backend

    def accounts_(self, params):
        from woob.capabilities.bank import AccountType
        result = []
        self.accounts = {}
        for acc in self._backend().iter_accounts():
            self.accounts[acc.id] = acc
            result.append({
                'id': acc.id,
                'label': text(acc.label) or acc.id,
                'number': text(acc.number),
                'iban': text(acc.iban),
                'type': enum_name(AccountType, acc.type),
                'currency': text(acc.currency),
                'balance': dec(acc.balance),
                'coming': dec(acc.coming),
            })
        return result

    def _account(self, params):
        account_id = params.get('account')
        if account_id is None:
            raise BadRequest('missing account')
        # Modules hang private attributes on the Account objects they yield,
        # so reuse those rather than a bare id.
        if account_id not in self.accounts:
            self.accounts[account_id] = self._backend().get_account(account_id)
        return self.accounts[account_id]

    def history(self, params):
        since = params.get('since')
        since = datetime.date.fromisoformat(since) if since else None
        result = []
        for tr in self._backend().iter_history(self._account(params)):
            item = transaction(tr)
            if since and item['date'] and datetime.date.fromisoformat(item['date']) < since:
                break  # woob yields newest first: the rest is older still
            result.append(item)
        return result

    def coming(self, params):
        account = self._account(params)
        try:
            # Modules raise either on the call or on the first next().
            return [transaction(tr) for tr in self._backend().iter_coming(account)]
        except NotImplementedError:
            return []

    def storage(self, params):
        backend = self._backend()
        if backend._browser is not None:
            backend.dump_state()  # puts the browser cookies/state into storage
        return backend.storage.storage.data

    METHODS = {'check': check, 'login': login, 'accounts': accounts_,
               'history': history, 'coming': coming, 'storage': storage}


def transaction(tr):
    from woob.capabilities.bank import TransactionType
    return {
        'id': text(tr.id),
        'date': day(tr.date),
        'rdate': day(tr.rdate),
        'vdate': day(tr.vdate),
        'amount': dec(tr.amount),
        'label': text(tr.label) or text(tr.raw) or '',
        'raw': text(tr.raw),
        'type': enum_name(TransactionType, tr.type),
    }


def error(exc):
    fields = []
    for value in getattr(exc, 'fields', None) or ():
        if hasattr(value, 'id'):  # woob Value of a BrowserQuestion
            fields.append({'name': value.id, 'label': value.label or value.id,
                           'type': 'password' if value.masked else 'text'})
    return {'kind': error_kind(exc), 'message': str(exc), 'fields': fields}


def handle(bridge, line):
    try:
        request = json.loads(line)
    except ValueError as exc:
        return {'id': None, 'error': {'kind': 'BadRequest', 'message': str(exc), 'fields': []}}
    req_id = request.get('id') if isinstance(request, dict) else None
    try:
        if not isinstance(request, dict):
            raise BadRequest('request must be an object')
        method = Bridge.METHODS.get(request.get('method'))
        if method is None:
            raise BadRequest('unknown method %r' % request.get('method'))
        return {'id': req_id, 'result': method(bridge, request.get('params') or {})}
    except Exception as exc:
        if isinstance(exc, ImportError) and (exc.name or '').split('.')[0] == 'woob':
            exc = WoobMissing(str(exc))
        kind = error_kind(exc)
        if kind not in KNOWN_KINDS and kind not in ('BadRequest', 'WoobMissing'):
            traceback.print_exc()  # unexpected: worth a trace (no locals, no credentials)
        return {'id': req_id, 'error': error(exc)}


def main():
    bridge = Bridge()
    for line in sys.stdin:
        if not line.strip():
            continue
        answer = handle(bridge, line)
        _PROTO_OUT.write(json.dumps(answer, default=jsonable) + '\n')
        _PROTO_OUT.flush()


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""bankd <-> woob bridge: one JSON request per stdin line, one JSON answer per
stdout line ({"id", "result"} or {"id", "error": {"kind", "message", "fields"}}).
Methods: check, login, accounts, history, coming, storage (one bank session),
modules (what a modules directory offers), update (woob's module update);
tests/woob_modules/test_bridge.py drives them all.

One process drives at most one backend (the last `login`); bankd keeps the
credentials and the sealed storage, this helper keeps nothing on disk.
"""

import contextlib
import datetime
import decimal
import json
import logging
import os
import re
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

    def modules(self, params):
        import woob
        from woob.core.modules import ModulesLoader
        path = params.get('modules_path')
        names = params.get('names')
        if not path or not os.path.isdir(path):
            raise BadRequest('modules needs an existing modules_path')
        if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise BadRequest('names must be a list of module names or null')
        path = os.path.abspath(path)  # woob keeps it in woob_modules.__path__, beyond any chdir
        found = sorted(n for n in os.listdir(path) if is_module_dir(path, n))
        if names is not None:
            found = [n for n in found if n in names]
        # woob's own loader, so requirements.txt and the woob version are
        # checked exactly as when bankd logs in with the module.
        loader = ModulesLoader(path, woob.__version__)
        with offline():
            return [inspect_module(loader, path, name) for name in found]

    def update(self, params):
        from woob.core.woob import Woob
        from woob.exceptions import ModuleInstallError
        progress = UpdateProgress()
        try:
            woob = Woob()  # reads WOOB_WORKDIR/sources.list, installs under WOOB_DATADIR
            woob.update(progress)
        except Exception as exc:
            if error_kind(exc) in KNOWN_KINDS:  # e.g. network down: BrowserUnavailable
                raise
            # A bad sources.list entry (a missing local folder...) surfaces as
            # whatever OSError woob hit: give bankd a kind it knows.
            traceback.print_exc()
            raise ModuleInstallError('woob update failed: %s' % exc) from exc
        repositories = woob.repositories
        if not repositories.repositories:
            # woob only logs an unreachable repository and carries on.
            raise ModuleInstallError('no module repository could be loaded: %s'
                                     % ('; '.join(progress.errors) or 'sources.list names none'))
        # woob's update only refreshes modules already installed (it installs
        # the others lazily at their first use by Woob, which bankd does not
        # use): install the bank ones now, so modules_path lists them.
        for info in repositories.get_all_modules_info(['CapBank']).values():
            if not info.is_installed() and not info.is_local():
                try:
                    repositories.install(info, progress)
                except ModuleInstallError as exc:  # one broken module must not stop the others
                    progress.error('%s: %s' % (info.name, exc))
        return {'modules_path': repositories.modules_dir}

    METHODS = {'check': check, 'login': login, 'accounts': accounts_,
               'history': history, 'coming': coming, 'storage': storage,
               'modules': modules, 'update': update}


class UpdateProgress:
    """woob's update observer (duck-typed IProgress): progress to stderr, as
    stdout is the protocol; errors kept to explain an update that got nothing."""

    def __init__(self):
        self.errors = []

    def progress(self, percent, message):
        print('woob update [%3.0f%%] %s' % (percent * 100, message), file=sys.stderr)

    def error(self, message):
        self.errors.append(message)
        print('woob update error: %s' % message, file=sys.stderr)

    def prompt(self, message):
        # Only asked to trust a signed repository's keyring on first contact;
        # there is nobody to ask, so do as non-interactive `woob update` does.
        print('woob update: %s -> yes' % message, file=sys.stderr)
        return True


@contextlib.contextmanager
def offline():
    """Importing a module must not reach its bank: refuse DNS and connections
    meanwhile (the failure then reads as that module not loading)."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError('network access refused while inspecting modules')

    saved_connect = vars(socket.socket).get('connect')  # normally inherited from _socket
    saved_getaddrinfo = socket.getaddrinfo
    socket.socket.connect = refuse
    socket.getaddrinfo = refuse
    try:
        yield
    finally:
        socket.getaddrinfo = saved_getaddrinfo
        if saved_connect is None:
            del socket.socket.connect
        else:
            socket.socket.connect = saved_connect


def is_module_dir(path, name):
    return (not name.startswith(('_', '.'))
            and os.path.isfile(os.path.join(path, name, '__init__.py')))


# Text scans, as they must also work for modules that do not load.
SELENIUM_IMPORT = re.compile(r'^\s*(?:from|import)\s+(?:selenium|woob\.browser\.selenium)\b', re.M)


def read_sources(directory):
    """{relative path: text} of the module's .py files, subpackages included."""
    sources = {}
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(('.', '__pycache__'))]
        for name in files:
            if name.endswith('.py'):
                filename = os.path.join(root, name)
                with open(filename, encoding='utf-8', errors='replace') as f:
                    sources[os.path.relpath(filename, directory)] = f.read()
    return sources


def missing_packages(requirements):
    from importlib import metadata
    missing = []
    for name in requirements:
        if name.lower() == 'woob':  # its version is the loader's business (error)
            continue
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def inspect_module(loader, path, name):
    from woob.tools.packaging import parse_requirements
    directory = os.path.join(path, name)
    sources = read_sources(directory)
    requirements = parse_requirements(os.path.join(directory, 'requirements.txt'))
    icon = os.path.join(directory, 'favicon.png')
    # What can be told without loading; loading refines bank and captcha.
    info = {
        'name': name,
        'bank': 'CapBank' in sources.get('module.py', sources.get('__init__.py', '')),
        'loads': False,
        'error': None,
        'missing': missing_packages(requirements),
        'description': None, 'version': None, 'license': None, 'maintainer': None,
        'selenium': (any(n.lower() == 'selenium' for n in requirements)
                     or any(SELENIUM_IMPORT.search(t) for t in sources.values())),
        'captcha': any('captcha_response' in t for t in sources.values()),
        'icon': icon if os.path.isfile(icon) else None,
        'config': [],
    }
    try:
        loaded = loader.get_or_load_module(name)
        if os.path.realpath(loaded.path) != os.path.realpath(directory):
            # Python caches woob_modules.<name>: a namesake from another
            # directory, loaded earlier in this process, would be described.
            raise ImportError('a module %s was already loaded from %s' % (name, loaded.path))
        info.update(describe_class(loaded.klass))
    except (Exception, SystemExit) as exc:  # a broken module is reported, never fatal
        info['error'] = load_error(exc)
    return info


def load_error(exc):
    from woob.exceptions import ModuleLoadError
    if isinstance(exc, ModuleLoadError):
        return str(exc)  # woob's own words (a missing package, a woob version...)
    # Not wrapped by woob's loader (SystemExit, our checks): say what it was.
    return '%s: %s' % (type(exc).__name__, exc) if str(exc) else type(exc).__name__


def describe_class(klass):
    from woob.capabilities.bank import CapBank
    config = [config_entry(value) for value in klass.CONFIG.values()]
    return {
        'bank': issubclass(klass, CapBank),
        'loads': True,
        'description': class_text(klass, 'DESCRIPTION'),
        'version': class_text(klass, 'VERSION'),
        'license': class_text(klass, 'LICENSE'),
        'maintainer': maintainer(klass),
        'captcha': 'captcha_response' in klass.CONFIG,
        'config': config,
    }


def class_text(klass, attr):
    # woob's defaults are '<unspecified>'; Module.VERSION is a deprecated
    # property unless the module still sets its own string.
    value = getattr(klass, attr, None)
    return value if isinstance(value, str) and value and value != '<unspecified>' else None


def maintainer(klass):
    name, email = class_text(klass, 'MAINTAINER'), class_text(klass, 'EMAIL')
    if name and email:
        return '%s <%s>' % (name, email)
    return name or email


def value_kind(value):
    from woob.tools.value import (
        ValueBackendPassword, ValueBool, ValueDate, ValueFloat, ValueInt, ValueTransient,
    )
    # Most specific first: ValueBool is a Value with choices.
    for klass, kind in ((ValueTransient, 'transient'), (ValueBackendPassword, 'password'),
                        (ValueBool, 'bool'), (ValueDate, 'date'), (ValueInt, 'int'),
                        (ValueFloat, 'float')):
        if isinstance(value, klass):
            return kind
    return 'choice' if value.choices else 'text'


TRUE_WORDS = {'y', 'yes', '1', 'true', 'on'}  # what ValueBool accepts as true


def default_text(value, kind):
    default = value.default
    if default is None:
        return None
    if kind == 'password' and default == '':
        return None  # woob gives every password this '' default: nothing to offer
    if kind == 'bool':
        true = default if isinstance(default, bool) else str(default).lower() in TRUE_WORDS
        return 'true' if true else 'false'
    if isinstance(default, bool):
        return 'true' if default else 'false'
    if isinstance(default, (datetime.date, datetime.datetime)):
        return default.isoformat()
    return str(default)


def config_entry(value):
    kind = value_kind(value)
    choices = value.choices
    if kind == 'bool' or not choices:
        choices = None  # ValueBool's y/n choices are woob's parsing, not options
    else:
        pairs = choices.items() if hasattr(choices, 'items') else ((c, c) for c in choices)
        choices = [[str(key), str(label)] for key, label in pairs]
    return {
        'key': value.id,
        'kind': kind,
        'label': str(value.label) if value.label else None,
        'masked': bool(value.masked),
        'regexp': value.regexp or None,
        'required': bool(value.required),
        'default': default_text(value, kind),
        'choices': choices,
    }


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
                           'type': 'password' if value.masked else 'text',
                           'regexp': value.regexp or None})  # the module's own check of the answer
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

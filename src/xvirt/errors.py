"""The one error hierarchy of xvirt, numbered as libvirt's virterror.h.

    LibvirtError                      base: code, domain, level, message (+ libvirt getters)
    ├── InternalError                 VIR_ERR_INTERNAL_ERROR      1
    ├── NoSupportError                VIR_ERR_NO_SUPPORT          3
    ├── NoConnectError                VIR_ERR_NO_CONNECT          5
    ├── InvalidArgError               VIR_ERR_INVALID_ARG         8
    ├── OperationFailedError          VIR_ERR_OPERATION_FAILED    9
    ├── XendError                     errors reported by XenD
    │   ├── GetFailedError            VIR_ERR_GET_FAILED         10
    │   ├── PostFailedError           VIR_ERR_POST_FAILED        11
    │   └── HttpError                 VIR_ERR_HTTP_ERROR         12
    ├── XenCallError                  VIR_ERR_XEN_CALL           15 (hypervisor channel)
    ├── SexprError                    VIR_ERR_SEXPR_SERIAL       13 (malformed S-expression)
    ├── XenstoreError                 VIR_ERR_NO_XENSTORE        24 (xenstore unreachable/errors)
    ├── XMLError                      VIR_ERR_XML_ERROR          27
    ├── ConfSyntaxError               VIR_ERR_CONF_SYNTAX        33 (xl.cfg / xm config text)
    ├── ConfigUnsupportedError        VIR_ERR_CONFIG_UNSUPPORTED 67 (valid, not expressible)
    ├── DomainExistsError             VIR_ERR_DOM_EXIST          28
    ├── OperationDeniedError          VIR_ERR_OPERATION_DENIED   29 (read-only connection)
    ├── NoDomainError                 VIR_ERR_NO_DOMAIN          42
    ├── OperationInvalidError         VIR_ERR_OPERATION_INVALID  55
    └── OperationTimeoutError         VIR_ERR_OPERATION_TIMEOUT  68

Numbers are libvirt's stable ABI (append-only since 0.1.0); tests pin them. Low-level failures
(socket errors, HTTP status, parse errors) are turned into these in one place per boundary:
``xvirt.transport`` for I/O and the protocol modules for bytes.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "ErrorCode", "ErrorDomain", "ErrorLevel", "LibvirtError", "InternalError", "NoSupportError",
    "NoConnectError", "InvalidArgError", "OperationFailedError", "XendError", "GetFailedError",
    "PostFailedError", "HttpError", "XenCallError", "SexprError", "XenstoreError", "XMLError", "DomainExistsError",
    "OperationDeniedError", "NoDomainError", "OperationInvalidError", "OperationTimeoutError",
    "ConfSyntaxError", "ConfigUnsupportedError", "error_for_code",
]


class ErrorCode(IntEnum):
    OK = 0
    INTERNAL_ERROR = 1
    NO_MEMORY = 2
    NO_SUPPORT = 3
    UNKNOWN_HOST = 4
    NO_CONNECT = 5
    INVALID_CONN = 6
    INVALID_DOMAIN = 7
    INVALID_ARG = 8
    OPERATION_FAILED = 9
    GET_FAILED = 10
    POST_FAILED = 11
    HTTP_ERROR = 12
    SEXPR_SERIAL = 13
    NO_XEN = 14
    XEN_CALL = 15
    OS_TYPE = 16
    NO_KERNEL = 17
    NO_ROOT = 18
    NO_SOURCE = 19
    NO_TARGET = 20
    NO_NAME = 21
    NO_OS = 22
    NO_DEVICE = 23
    NO_XENSTORE = 24
    DRIVER_FULL = 25
    CALL_FAILED = 26
    XML_ERROR = 27
    DOM_EXIST = 28
    OPERATION_DENIED = 29
    OPEN_FAILED = 30
    READ_FAILED = 31
    PARSE_FAILED = 32
    CONF_SYNTAX = 33
    WRITE_FAILED = 34
    XML_DETAIL = 35
    INVALID_NETWORK = 36
    NETWORK_EXIST = 37
    SYSTEM_ERROR = 38
    RPC = 39
    GNUTLS_ERROR = 40
    NO_DOMAIN = 42
    OPERATION_INVALID = 55
    CONFIG_UNSUPPORTED = 67
    OPERATION_TIMEOUT = 68
    ARGUMENT_UNSUPPORTED = 74
    NO_DOMAIN_METADATA = 80
    OPERATION_UNSUPPORTED = 84
    MULTIPLE_DOMAINS = 110


class ErrorDomain(IntEnum):
    NONE = 0
    XEN = 1
    XEND = 2
    XENSTORE = 3
    SEXPR = 4
    XML = 5
    DOM = 6
    RPC = 7
    PROXY = 8
    CONF = 9
    QEMU = 10
    NET = 11
    TEST = 12
    REMOTE = 13
    XENXM = 15
    DOMAIN = 20
    LIBXL = 41
    XENXL = 64


class ErrorLevel(IntEnum):
    NONE = 0
    WARNING = 1
    ERROR = 2


class LibvirtError(Exception):
    """Base of every xvirt error; carries libvirt's error record.

    ``code``/``domain``/``level``/``message`` are attributes; libvirt-python's getters
    (``get_error_code()`` ...) and the raw 9-tuple ``err`` are provided for compatibility.
    """

    default_code: ErrorCode = ErrorCode.INTERNAL_ERROR
    default_domain: ErrorDomain = ErrorDomain.NONE

    def __init__(self, message: str, *, code: int | None = None, domain: int | None = None,
                 level: int = ErrorLevel.ERROR, str1: str | None = None, str2: str | None = None,
                 str3: str | None = None, int1: int = -1, int2: int = -1) -> None:
        super().__init__(message)
        self.message = message
        self.code = ErrorCode(code) if code is not None else self.default_code
        self.domain = ErrorDomain(domain) if domain is not None else self.default_domain
        self.level = ErrorLevel(level)
        self.str1 = message if str1 is None else str1
        self.str2, self.str3, self.int1, self.int2 = str2, str3, int1, int2

    @property
    def err(self) -> tuple:
        return (int(self.code), int(self.domain), self.message, int(self.level),
                self.str1, self.str2, self.str3, self.int1, self.int2)

    def get_error_code(self) -> int:
        return int(self.code)

    def get_error_domain(self) -> int:
        return int(self.domain)

    def get_error_message(self) -> str:
        return self.message

    def get_error_level(self) -> int:
        return int(self.level)

    def get_str1(self) -> str | None:
        return self.str1

    def get_str2(self) -> str | None:
        return self.str2

    def get_str3(self) -> str | None:
        return self.str3

    def get_int1(self) -> int:
        return self.int1

    def get_int2(self) -> int:
        return self.int2

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={int(self.code)}, domain={int(self.domain)}, {self.message!r})"


class InternalError(LibvirtError):
    default_code = ErrorCode.INTERNAL_ERROR


class NoSupportError(LibvirtError):
    default_code = ErrorCode.NO_SUPPORT


class NoConnectError(LibvirtError):
    default_code = ErrorCode.NO_CONNECT


class InvalidArgError(LibvirtError):
    default_code = ErrorCode.INVALID_ARG


class OperationFailedError(LibvirtError):
    default_code = ErrorCode.OPERATION_FAILED


class XendError(LibvirtError):
    """XenD refused or failed a request (an ``(xend.err ...)`` body or an HTTP failure)."""

    default_code = ErrorCode.OPERATION_FAILED
    default_domain = ErrorDomain.XEND


class GetFailedError(XendError):
    default_code = ErrorCode.GET_FAILED


class PostFailedError(XendError):
    default_code = ErrorCode.POST_FAILED


class HttpError(XendError):
    default_code = ErrorCode.HTTP_ERROR


class SexprError(LibvirtError):
    """Malformed or oversized S-expression."""

    default_code = ErrorCode.SEXPR_SERIAL
    default_domain = ErrorDomain.SEXPR


class XenCallError(LibvirtError):
    """The hypervisor channel failed (the domain table could not be read)."""

    default_code = ErrorCode.XEN_CALL
    default_domain = ErrorDomain.XEN


class XenstoreError(LibvirtError):
    default_code = ErrorCode.NO_XENSTORE
    default_domain = ErrorDomain.XENSTORE


class XMLError(LibvirtError):
    default_code = ErrorCode.XML_ERROR
    default_domain = ErrorDomain.XML


class ConfSyntaxError(LibvirtError):
    """Malformed xl.cfg / xm configuration text (libvirt's virconf.c reports these).

    ``int1``/``int2`` carry the line and column (1-based) of the fault when known.
    """

    default_code = ErrorCode.CONF_SYNTAX
    default_domain = ErrorDomain.CONF


class ConfigUnsupportedError(LibvirtError):
    """A well-formed configuration the target format cannot express."""

    default_code = ErrorCode.CONFIG_UNSUPPORTED


class DomainExistsError(LibvirtError):
    default_code = ErrorCode.DOM_EXIST
    default_domain = ErrorDomain.DOM


class OperationDeniedError(LibvirtError):
    default_code = ErrorCode.OPERATION_DENIED


class NoDomainError(LibvirtError):
    default_code = ErrorCode.NO_DOMAIN
    default_domain = ErrorDomain.DOM


class OperationInvalidError(LibvirtError):
    default_code = ErrorCode.OPERATION_INVALID


class OperationTimeoutError(LibvirtError):
    default_code = ErrorCode.OPERATION_TIMEOUT


_BY_CODE: dict[int, type[LibvirtError]] = {
    cls.default_code: cls
    for cls in (InternalError, NoSupportError, NoConnectError, InvalidArgError,
                OperationFailedError, GetFailedError, PostFailedError, HttpError, XenCallError, SexprError,
                XenstoreError, XMLError, DomainExistsError, OperationDeniedError, NoDomainError,
                OperationInvalidError, OperationTimeoutError, ConfSyntaxError,
                ConfigUnsupportedError)
}


def error_for_code(code: int, message: str, *, domain: int | None = None) -> LibvirtError:
    """Build the most specific error class for a libvirt error code."""
    cls = _BY_CODE.get(int(code), LibvirtError)
    return cls(message, code=code, domain=domain)

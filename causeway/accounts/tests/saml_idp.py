"""A SAML 2.0 identity provider for tests: pysaml2's IdP side with its own key and certificate (made by
`openssl` for each test run), answering the AuthnRequest Causeway sends with a signed response, or with
one that is wrong in the way a test asks: unsigned, tampered, for another audience or recipient."""

from __future__ import annotations

import base64
import subprocess  # openssl makes the test IdP's key, as an operator would
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from saml2 import BINDING_HTTP_REDIRECT
    from saml2.config import IdPConfig
    from saml2.metadata import create_metadata_string
    from saml2.saml import NAMEID_FORMAT_EMAILADDRESS
    from saml2.server import Server

IDP_ENTITY = "https://idp.saml.test/metadata"
IDP_SSO = "https://idp.saml.test/sso"
# A provider's metadata with a public certificate alone (its key was not kept): for tests that add a
# SAML provider and never sign in through it.
SAMPLE_METADATA = (
    '<ns0:EntityDescriptor xmlns:ns0="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ns1="http://www.w3.'
    'org/2000/09/xmldsig#" entityID="https://idp.saml.test/metadata"><ns0:IDPSSODescriptor protocolSu'
    'pportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="false"><ns0:Key'
    'Descriptor use="signing"><ns1:KeyInfo><ns1:X509Data><ns1:X509Certificate>MIIDDTCCAfWgAwIBAgIUD0W'
    "h0gVkDU8NEJXBGN0rPD7NgQEwDQYJKoZIhvcNAQELBQAwFTETMBEGA1UEAwwKc2FtcGxlLWlkcDAgFw0yNjEyMDcxNzA5MzZ"
    "aGA8yMTI2MTExMzE3MDkzNlowFTETMBEGA1UEAwwKc2FtcGxlLWlkcDCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggE"
    "BAPMsS+iULZLVDow7GL3feH/9CET/e4jZTh4in53g/E19QpyppqxAChoSYchomD4g92gVrvbavOWduYxk1/yk8VJhH1T6PPh"
    "KwqrkKHWPeifbYf/qIBfVRz0J6/nVlQyrrTYZsXRMOrovgiqiUgaKQIzce9fOxnFc/y74jsBV82iT8AadNs/bQOtAZlUDAGI"
    "RFpWwtX2UTV2JDzMyis4uHyrFtFYqSB+qPeE7QnKbhO797vF1tl3lNM5A96lHi6B0lR4bpr7fyeUnE2fFxeDBKeS5wf/r0rM"
    "0tKB856tZkTR1G1JNJBeB+yUV91xwb6ocE9uNXGIVWgTLKdFUKbMHNpUCAwEAAaNTMFEwHQYDVR0OBBYEFM884f4dD7XatWN"
    "01aJx6QRHcug8MB8GA1UdIwQYMBaAFM884f4dD7XatWN01aJx6QRHcug8MA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQE"
    "LBQADggEBAC6NwjYY+i4/Zm+C175dIyP0X7DpxVZqbCcDWADoFEV4RTpgc4VVLc7XTPNSI1tP/zlraVDWnFweOimWQtJFtCw"
    "LlA5NmTLJn7lLPSk0oPnLBkwR3LkYpZntD1/PzeCIcEaHnsOXAP/dei/BT2PQND4diQ1UPv/sAbKCZUc3biHTedqFYOMfVdX"
    "DUnEzK9K573wQ8BSC8xPyxXFeDQMQTXdCIC+6mMYrOmf1ET1XutDRpKB9/h+gf4HCzz2IEZk9KPZsdWtqgWwSvmVlH0yS5Az"
    "H1GooAEr4ILBTK2yMGTuYGsQl+WMduiv06w/vTFT1hIHgpOIUrf6lscsTswuJy/s=</ns1:X509Certificate></ns1:X50"
    "9Data></ns1:KeyInfo></ns0:KeyDescriptor><ns0:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-for"
    'mat:emailAddress</ns0:NameIDFormat><ns0:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0'
    ':bindings:HTTP-Redirect" Location="https://idp.saml.test/sso" /></ns0:IDPSSODescriptor></ns0:Ent'
    "ityDescriptor>"
)
PASSWORD_CONTEXT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


def _key_pair(folder: Path) -> tuple[Path, Path]:
    key, cert = folder / "idp.key", folder / "idp.crt"
    subprocess.run(
        [
            "/usr/bin/openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=test-idp",
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


def _config(key: Path, cert: Path, sp_metadata: list[str] | None) -> IdPConfig:
    config = IdPConfig()
    config.load(
        {
            "entityid": IDP_ENTITY,
            "service": {
                "idp": {
                    "endpoints": {"single_sign_on_service": [(IDP_SSO, BINDING_HTTP_REDIRECT)]},
                    "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                    "policy": {"default": {"lifetime": {"minutes": 5}}},
                }
            },
            "key_file": str(key),
            "cert_file": str(cert),
            "metadata": {"inline": sp_metadata} if sp_metadata else {},
        }
    )
    return config


@dataclass
class SamlIdp:
    folder: Path
    person: dict[str, list[str]] = field(
        default_factory=lambda: {"email": ["ada@example.com"], "givenName": ["Ada"], "sn": ["Lovelace"]}
    )

    def __post_init__(self) -> None:
        self.key, self.cert = _key_pair(self.folder)

    def metadata(self) -> str:
        found = create_metadata_string(None, config=_config(self.key, self.cert, None), valid=None)
        return found.decode() if isinstance(found, bytes) else str(found)

    def answer(
        self,
        authorize_url: str,
        sp_metadata: str,
        *,
        audience: str | None = None,
        destination: str | None = None,
        sign_assertion: bool = True,
        sign_response: bool = False,
        tamper: bool = False,
    ) -> str:
        """The SAMLResponse (base64) the IdP posts back for the request in `authorize_url`."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            known = [sp_metadata]
            query = parse_qs(urlsplit(authorize_url).query)
            if audience:
                # Another service provider the IdP also knows: the answer is meant for it.
                entity = Server(config=_config(self.key, self.cert, known))
                sp_entity = entity.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT).message
                known.append(sp_metadata.replace(sp_entity.issuer.text, audience))
            server = Server(config=_config(self.key, self.cert, known))
            request = server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT).message
            sp_entity = request.issuer.text
            response = server.create_authn_response(
                dict(self.person),
                in_response_to=request.id,
                destination=destination or request.assertion_consumer_service_url,
                sp_entity_id=audience or sp_entity,
                userid=self.person["email"][0],
                name_id=None,
                authn={"class_ref": PASSWORD_CONTEXT, "authn_auth": IDP_ENTITY},
                sign_assertion=sign_assertion,
                sign_response=sign_response,
            )
        text = str(response)
        if tamper:
            text = text.replace(self.person["email"][0], "admin@example.com")
        return base64.b64encode(text.encode()).decode()


def saml_idp(folder: Any) -> SamlIdp:
    return SamlIdp(Path(folder))

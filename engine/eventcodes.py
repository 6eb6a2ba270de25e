"""Auth0's tenant log event codes: what each ``type`` means and which kind of event it is.

Taken from Auth0's "Log Event Type Codes" table (auth0/docs-v2
``main/docs/deploy-monitor/logs/log-event-type-codes.mdx``, 165 codes, as
compiled in shared/auth0-facts.md section 3), plus the codes that only Auth0's
log catalog (``oas/tenant-logs/logs-schema.json``) or older documentation and
go-auth0's ``logTypeName`` list still name.

Categories:

- ``success``: a successful user or client operation (logins, exchanges, changes)
- ``failure``: a failed one
- ``attack_protection``: brute-force, suspicious-IP and breached-password protection
- ``management``: Management API operations and tenant administration
- ``mfa``: Guardian / multi-factor events
- ``notice``: informational (deprecations, rate-limit warnings, system notices)

``USER_AUTH_SUCCESS`` lists the codes that mean "a user authenticated and got
a session or tokens": an attacker who holds a password or a session reaches
applications through any of them, not only through ``s`` (silent
authentication ``ssa``, cross-origin ``scoa``, the token exchanges).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Category = Literal["success", "failure", "attack_protection", "management", "mfa", "notice"]


@dataclass(frozen=True, slots=True)
class EventCode:
    code: str
    description: str
    category: Category
    legacy: bool = False


_S: Category = "success"
_F: Category = "failure"
_A: Category = "attack_protection"
_M: Category = "management"
_MFA: Category = "mfa"
_N: Category = "notice"

_TABLE: list[tuple[str, str, Category]] = [
    ("acls_summary", "Network ACLs Summary", _A),
    ("actions_execution_failed", "Actions Execution Failed", _F),
    ("acul_sdk_notice", "ACUL SDK Notice", _N),
    ("api_limit", "Rate Limit on the Authentication or Management APIs", _N),
    ("api_limit_warning", "Rate Limit Warning on the Authentication or Management APIs", _N),
    ("appi", "Notice for API Peak Performance initiated", _N),
    ("ciba_exchange_failed", "Failed CIBA Exchange", _F),
    ("ciba_exchange_succeeded", "Successful CIBA Exchange", _S),
    ("ciba_start_failed", "Failed CIBA Start", _F),
    ("ciba_start_succeeded", "Successful CIBA Start", _S),
    ("cls", "Code/Link Sent", _S),
    ("connected_accounts_connection_failed", "Failed Connected Account Connection", _F),
    ("connected_accounts_connection_succeeded", "Successful Connected Account Connection", _S),
    ("connected_accounts_delete_failed", "Failed Connected Account Delete", _F),
    ("connected_accounts_delete_succeeded", "Successful Connected Account Delete", _S),
    ("cs", "Code Sent", _S),
    ("custom_domain_verification_failed", "Custom Domain Verification Failed", _F),
    ("depnote", "Deprecation Notice", _N),
    ("directory_sync_completed", "Inbound Directory Sync Completed", _M),
    ("directory_sync_failed", "Inbound Directory Sync Failed", _M),
    ("directory_sync_started", "Inbound Directory Sync Started", _M),
    ("f", "Failed Login", _F),
    ("failed_on_behalf_of_token_exchange", "Failed On-Behalf-Of Token Exchange", _F),
    ("feacft", "Failed Exchange: Authorization Code for Access Token", _F),
    ("feccft", "Failed Exchange: Access Token for a Client Credentials Grant", _F),
    ("fecte", "Failed Exchange: Custom Token Exchange", _F),
    ("fede", "Failed Exchange: Device Code for Access Token", _F),
    ("fens", "Failed Exchange: Native Social Login", _F),
    ("feoobft", "Failed Exchange: Password and OOB Challenge for Access Token", _F),
    ("feotpft", "Failed Exchange: Password and OTP Challenge for Access Token", _F),
    ("fepft", "Failed Exchange: Password for Access Token", _F),
    ("fepotpft", "Failed Exchange: Passwordless OTP for Access Token", _F),
    ("fercft", "Failed Exchange: Password and MFA Recovery Code for Access Token", _F),
    ("ferrt", "Failed Exchange: Rotating Refresh Token (reuse detected)", _A),
    ("fertft", "Failed Exchange: Refresh Token for Access Token", _F),
    ("feta", "Failed Exchange: Token Exchange", _F),
    ("idjag_exchange_failed", "Failed ID-JAG Exchange", _F),
    ("jwt_bearer_exchange_failed", "Failed JWT Bearer Exchange", _F),
    ("fc", "Failed by Connector", _F),
    ("fce", "Failed Change Email", _F),
    ("fco", "Failed by CORS", _F),
    ("fcoa", "Failed cross-origin authentication", _F),
    ("fcp", "Failed Change Password", _F),
    ("fcph", "Failed Post Change Password Hook", _F),
    ("fcpn", "Failed Change Phone Number", _F),
    ("fcpr", "Failed Change Password Request", _F),
    ("fcpro", "Failed Connector Provisioning", _F),
    ("fcu", "Failed Change Username", _F),
    ("fd", "Failed Delegation", _F),
    ("fdeac", "Failed Device Activation", _F),
    ("fdeaz", "Failed Device Authorization Request", _F),
    ("fdecc", "User Canceled Device Confirmation", _F),
    ("fdu", "Failed User Deletion", _F),
    ("federated_logout_failed", "Failed Federated Logout", _F),
    ("fi", "Failed invite accept", _F),
    ("flo", "Failed Logout", _F),
    ("flows_execution_completed", "Flows Execution Completed", _N),
    ("flows_execution_failed", "Flows Execution Failed", _F),
    ("fn", "Failed Sending Notification", _F),
    ("forms_submission_failed", "Forms Submission Failed", _F),
    ("forms_submission_succeeded", "Forms Submission Succeeded", _S),
    ("fp", "Failed Login (Incorrect Password)", _F),
    ("fpar", "Failed Pushed Authorization Request", _F),
    ("fpurh", "Failed Post User Registration Hook", _F),
    ("fs", "Failed Signup", _F),
    ("fsa", "Failed Silent Auth", _F),
    ("fu", "Failed Login (Invalid Email/Username)", _F),
    ("fui", "Failed users import", _F),
    ("fv", "Failed Verification Email", _F),
    ("fvr", "Failed Verification Email Request", _F),
    ("gd_auth_email_verification", "Email Verification Confirmed", _MFA),
    ("gd_auth_fail_email_verification", "Email Verification Failed", _MFA),
    ("gd_send_email_verification_failure", "Email Verification Failed", _MFA),
    ("gd_auth_failed", "MFA Auth failed", _MFA),
    ("gd_auth_rejected", "MFA Auth rejected", _MFA),
    ("gd_auth_succeed", "MFA Auth success", _MFA),
    ("gd_enrollment_complete", "MFA enrollment complete", _MFA),
    ("gd_otp_rate_limit_exceed", "Too many MFA failures", _MFA),
    ("gd_recovery_failed", "Recovery failed", _MFA),
    ("gd_recovery_rate_limit_exceed", "Multi-factor recovery code has failed too many times", _MFA),
    ("gd_recovery_succeed", "MFA recovery success", _MFA),
    ("gd_send_email", "MFA Email Sent", _MFA),
    ("gd_send_email_verification", "Email Verification Sent", _MFA),
    ("gd_send_pn", "Push notification sent", _MFA),
    ("gd_send_pn_failure", "Error Sending MFA Push Notification", _MFA),
    ("gd_send_sms", "MFA SMS Sent", _MFA),
    ("gd_send_sms_failure", "Error Sending MFA SMS", _MFA),
    ("gd_send_voice", "MFA voice call success", _MFA),
    ("gd_send_voice_failure", "MFA voice call failed", _MFA),
    ("gd_start_auth", "Second factor started", _MFA),
    ("gd_start_enroll", "MFA Enroll started", _MFA),
    ("gd_start_enroll_failed", "MFA Enrollment Failed", _MFA),
    ("gd_tenant_update", "Guardian tenant update", _MFA),
    ("gd_unenroll", "Unenroll device account", _MFA),
    ("gd_update_device_account", "Update device account", _MFA),
    ("gd_webauthn_challenge_failed", "WebAuthn browser error (challenge)", _MFA),
    ("gd_webauthn_enrollment_failed", "WebAuthn browser error (enrollment)", _MFA),
    ("idjag_exchange_succeeded", "Success ID-JAG Exchange", _S),
    ("seacft", "Success Exchange: Authorization Code for Access Token", _S),
    ("seccft", "Success Exchange: Access Token for a Client Credentials Grant", _S),
    ("secte", "Success Exchange: Custom Token Exchange", _S),
    ("sede", "Success Exchange: Device Code for Access Token", _S),
    ("sens", "Success Exchange: Native Social Login", _S),
    ("seoobft", "Success Exchange: Password and OOB Challenge for Access Token", _S),
    ("seotpft", "Success Exchange: Password and OTP Challenge for Access Token", _S),
    ("sepft", "Success Exchange: Password for Access Token", _S),
    ("sepkoobft", "Success Exchange: Passkey and OOB Challenge for Access Token", _S),
    ("sepkotpft", "Success Exchange: Passkey and OTP Challenge for Access Token", _S),
    ("sepkrcft", "Success Exchange: Passkey and MFA Recovery Code for Access Token", _S),
    ("sercft", "Success Exchange: Password and MFA Recovery Code for Access Token", _S),
    ("sertft", "Success Exchange: Refresh Token for Access Token", _S),
    ("seta", "Success Exchange: Token Exchange", _S),
    ("success_on_behalf_of_token_exchange", "Success On-Behalf-Of Token Exchange", _S),
    ("kms_key_management_failure", "Failed KMS API Operation", _M),
    ("kms_key_management_success", "Success KMS API Operation", _M),
    ("kms_key_state_changed", "KMS Key State Change", _M),
    ("limit_delegation", "Too Many Calls to /delegation", _A),
    ("limit_mu", "Blocked IP Address", _A),
    ("limit_sul", "Blocked Account (max logins per period from same IP)", _A),
    ("limit_wc", "Blocked Account (max failed logins into one account from an IP)", _A),
    ("mfar", "MFA Required", _MFA),
    ("mgmt_api_read", "Management API read Operation", _M),
    (
        "my_account_authentication_method_failed",
        "Failed authentication method operation in My Account API",
        _F,
    ),
    (
        "my_account_authentication_method_succeeded",
        "Successful authentication method operation in My Account API",
        _S,
    ),
    ("oidc_backchannel_logout_failed", "Failed OIDC Back-Channel Logout request", _F),
    ("oidc_backchannel_logout_succeeded", "Successful OIDC Back-Channel Logout request", _S),
    ("organization_member_added", "Organization Member Added", _M),
    ("passkey_challenge_failed", "Passkey Challenge Failed", _F),
    ("passkey_challenge_started", "Passkey Challenge Started", _N),
    ("pla", "Pre-login assessment", _N),
    ("pwd_leak", "Breached password", _A),
    ("reset_pwd_leak", "Breached Password on Reset", _A),
    ("resource_cleanup", "Success Resource Cleanup", _M),
    ("rich_consents_access_error", "Rich Consents Access Error", _F),
    ("s", "Success Login", _S),
    ("sapi", "Success API Operation", _M),
    ("sce", "Success Change Email", _S),
    ("scoa", "Success cross-origin authentication", _S),
    ("scp", "Success Change Password", _S),
    ("scpn", "Success Change Phone Number", _S),
    ("scpr", "Success Change Password Request", _S),
    ("scu", "Success Change Username", _S),
    ("scv", "Success Credential Validation", _S),
    ("sd", "Success Delegation", _S),
    ("sdu", "Success User Deletion", _S),
    ("si", "Successfully accepted a user invite", _S),
    ("signup_pwd_leak", "Breached Password on Signup", _A),
    ("slo", "Success Logout", _S),
    ("srrt", "Successfully revoked a refresh token", _S),
    ("ss", "Success Signup", _S),
    ("ss_sso_failure", "Failed Self-Service SSO Operation", _M),
    ("ss_sso_info", "Information Self-Service SSO Operation", _M),
    ("ss_sso_success", "Success Self-Service SSO Operation", _M),
    ("ssa", "Success Silent Auth", _S),
    ("sscim", "Successful SCIM Operation", _M),
    ("sui", "Successfully imported users", _M),
    ("sv", "Success Verification Email", _S),
    ("svr", "Success Verification Email Request", _S),
    ("too_many_records", "Max Amount of Authenticators", _F),
    ("ublkdu", "User login block released", _A),
    ("universal_logout_failed", "Failed Universal Logout request", _F),
    ("universal_logout_succeeded", "Successful Universal Logout request", _S),
    ("w", "Warning During Login", _N),
    ("wn", "Warning Sending Notification", _N),
    ("wum", "Warning User Management", _N),
]

# In Auth0's log catalog only, or in older docs and go-auth0's logTypeName.
_LEGACY: list[tuple[str, str, Category]] = [
    ("fdeleacft", "Failed Exchange (log catalog only)", _F),
    ("fdelsa", "Failed operation (log catalog only)", _F),
    ("fscim", "Failed SCIM Operation", _M),
    ("limit_phone", "Too many phone messages (log catalog only)", _A),
    ("sdel", "Success operation (log catalog only)", _S),
    ("sdeleacft", "Success Exchange (log catalog only)", _S),
    ("sdelsa", "Success operation (log catalog only)", _S),
    ("fapi", "Failed API Operation", _M),
    ("du", "Deleted User", _M),
    ("limit_ui", "Too Many Calls to /userinfo", _A),
    ("coff", "AD/LDAP Connector is offline", _N),
    ("con", "AD/LDAP Connector is online and working", _N),
    ("scph", "Success Post Change Password Hook", _S),
    ("gd_module_switch", "Guardian module switch", _MFA),
    ("gd_user_delete", "Guardian user deleted", _MFA),
    ("admin_update_launch", "Auth0 Update Launched", _N),
]

CODES: dict[str, EventCode] = {
    code: EventCode(code, description, category) for code, description, category in _TABLE
} | {
    code: EventCode(code, description, category, legacy=True)
    for code, description, category in _LEGACY
}

# A user authenticated and holds a session or tokens for an application. Client
# credentials (seccft) are a machine, not a user; sign-ups and changes are not logins.
USER_AUTH_SUCCESS: frozenset[str] = frozenset(
    {
        "s",
        "ssa",
        "scoa",
        "sd",
        "seacft",
        "secte",
        "sede",
        "sens",
        "seoobft",
        "seotpft",
        "sepft",
        "sepkoobft",
        "sepkotpft",
        "sepkrcft",
        "sercft",
        "sertft",
        "seta",
        "ciba_exchange_succeeded",
        "success_on_behalf_of_token_exchange",
        "idjag_exchange_succeeded",
    }
)

# Failed user authentication: what credential stuffing and spraying leave behind.
USER_AUTH_FAILURE: frozenset[str] = frozenset(
    {"f", "fp", "fu", "fcoa", "fsa", "feacft", "fepft", "feoobft", "feotpft", "fercft"}
)

# The indicator codes Auth0's own attack playbooks and detections search for
# (auth0/auth0-customer-detections: `type: (f fu fp pwd_leak limit_wc limit_sul limit_mu fcoa)`),
# plus the other breached-password codes.
ATTACK_INDICATORS: tuple[str, ...] = (
    "f",
    "fu",
    "fp",
    "fcoa",
    "pwd_leak",
    "signup_pwd_leak",
    "reset_pwd_leak",
    "limit_wc",
    "limit_sul",
    "limit_mu",
)


def lookup(code: str) -> EventCode | None:
    """The catalog entry for a ``type`` value, or None for a code Auth0 does not document."""
    return CODES.get(code)


def by_category(category: Category) -> list[str]:
    return sorted(c.code for c in CODES.values() if c.category == category)

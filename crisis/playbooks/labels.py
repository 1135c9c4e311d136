"""Names of SOP categories, severities and roles in the reader's language."""

from crisis.i18n import lazy_gettext

CATEGORY_LABELS = {
    "service_failure": lazy_gettext("Service failure"),
    "hoax": lazy_gettext("Hoax / disinformation"),
    "disaster": lazy_gettext("Disaster / emergency"),
    "data_leak": lazy_gettext("Data leak / cyber"),
    "policy_backlash": lazy_gettext("Policy backlash"),
    "official_conduct": lazy_gettext("Official conduct"),
    "public_complaint": lazy_gettext("Public complaint"),
    "other": lazy_gettext("Other"),
}
SEVERITY_LABELS = {
    1: lazy_gettext("1 · Minimal"),
    2: lazy_gettext("2 · Moderate"),
    3: lazy_gettext("3 · Intense"),
    4: lazy_gettext("4 · Severe"),
}
OWNER_LABELS = {
    "officer": lazy_gettext("Duty officer"),
    "supervisor": lazy_gettext("Supervisor"),
    "head": lazy_gettext("Unit head"),
    "admin": lazy_gettext("Administrator"),
    "observer": lazy_gettext("Observer"),
    "commander": lazy_gettext("Incident commander"),
}

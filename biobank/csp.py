"""Content-Security-Policy header on every response (Django 5.2 has none built in).

The policy is one setting, CONTENT_SECURITY_POLICY (environment variable of the same
name; empty turns it off), so a deployment can tighten it without code. Scripts are
strict: every template loads its scripts from our static files and none is inline
(tests/test_deploy.py checks the templates), so an injected <script> does not run.
Styles allow 'unsafe-inline': the analysis figures are matplotlib SVGs drawn inline
with style attributes and a <style> element, which neither nonces nor hashes can
cover; a style cannot run code.

A view that needs another policy sets the header itself; it is kept.
"""

from __future__ import annotations

from django.conf import settings

HEADER = "Content-Security-Policy"
REPORT_ONLY_HEADER = "Content-Security-Policy-Report-Only"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        if policy:
            report_only = getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", False)
            header = REPORT_ONLY_HEADER if report_only else HEADER
            if HEADER not in response and REPORT_ONLY_HEADER not in response:
                response[header] = policy
        return response

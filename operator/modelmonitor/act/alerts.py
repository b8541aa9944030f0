"""Sending alerts to the webhooks of ``spec.actions.alerts``, and recording those that could not be
sent in ``status.actions``.

A URL from a Secret is read only from a Secret labelled ``modelmonitor.io/webhook: "true"`` and must
be an http(s) URL; every URL must pass the egress allowlist. Otherwise the alert is not sent and an
AlertNotSent note names the field and why. No note shows more of a URL than scheme://host[:port],
nor any of a Secret's value.
"""

from __future__ import annotations

import time
from typing import Any

from modelmonitor.act.outcome import Note
from modelmonitor.adapters.ports import KubernetesError, KubernetesPort, SecretRefused, WebhookPort
from modelmonitor.adapters.webhooks import WebhookError
from modelmonitor.api.durations import parse_duration
from modelmonitor.api.spec import Alert, AlertFormat, ModelMonitorSpec
from modelmonitor.policy import actions as policy
from modelmonitor.policy import egress
from modelmonitor.policy.alerts import AlertEvent, condition_alerts, payload
from modelmonitor.policy.request import Request


class Alerter:
    def __init__(
        self, kube: KubernetesPort, webhooks: WebhookPort, egress_allow: tuple[egress.Pattern, ...]
    ) -> None:
        self.kube = kube
        self.webhooks = webhooks
        self.egress = egress_allow

    def alert(
        self, spec: ModelMonitorSpec, req: Request, conditions: list[dict[str, Any]], actions: list[AlertEvent],
        *, changed: set[str], runbook_base: str,
    ) -> list[Note]:  # fmt: skip
        """Alerts for the conditions (on transitions; Alertmanager's while firing) and the actions."""
        events = [*actions, *condition_alerts(
            req.namespace, req.name, before={c["type"]: c["status"] for c in req.status.get("conditions") or []},
            conditions=conditions, changed=changed, now=req.now,
            interval=parse_duration(spec.interval), runbook_base=runbook_base,
        )]  # fmt: skip
        return self.send(spec, req.namespace, events)

    def send(self, spec: ModelMonitorSpec, namespace: str, events: list[AlertEvent]) -> list[Note]:
        """Send each event to the alerts whose ``when`` lists its condition; notes for failures."""
        notes: list[Note] = []
        for index, alert in enumerate(spec.actions.alerts):
            wanted = {str(t) for t in alert.when}
            relevant = [e for e in events if e.condition in wanted]
            if not relevant:
                continue
            url = self._url(
                alert, f"spec.actions.alerts[{index}].webhook", namespace, relevant[0].condition, notes
            )
            if url is None:
                continue
            for event in relevant:
                # Alertmanager hears a firing alert on every evaluation (it resolves what is not
                # re-sent); the others once per transition, deduplicated.
                resend = alert.format == AlertFormat.ALERTMANAGER and event.ends_at is not None
                if event.repeat and not resend:
                    continue
                if not resend and self.webhooks.duplicate((url, *event.fingerprint), time.monotonic()):
                    continue
                try:
                    self.webhooks.post(url, payload(event, alert.format))
                except WebhookError as exc:
                    notes.append(Note(True, "AlertFailed", f"{event.name}: {exc}", condition=event.condition))
        return notes

    def _url(self, alert: Alert, where: str, namespace: str, condition: str, notes: list[Note]) -> str | None:
        """The alert's webhook URL, or None with a note saying why it is not sent."""
        url = alert.webhook.url
        field_name = f"{where}.url"
        if url is None and alert.webhook.urlFrom is not None:
            ref = alert.webhook.urlFrom.secretKeyRef
            field_name = f"{where}.urlFrom.secretKeyRef"
            try:
                url = self.kube.get_secret_value(namespace, ref.name, ref.key)
            except SecretRefused as exc:
                notes.append(Note(True, "AlertNotSent", f"{field_name}: {exc}; the alert is not sent",
                                  condition=condition))  # fmt: skip
                return None
            except KubernetesError as exc:
                notes.append(Note(True, "AlertFailed", f"{field_name}: cannot read Secret "
                                  f"{namespace}/{ref.name}: {exc.status} {exc.reason}", condition=condition))  # fmt: skip
                return None
            try:
                egress.endpoint(url)
            except egress.URLRefused as exc:
                notes.append(Note(True, "AlertNotSent", f"{field_name}: the key {ref.key!r} of Secret "
                                  f"{namespace}/{ref.name} holds no usable webhook URL: {exc}; the alert is "
                                  "not sent", condition=condition))  # fmt: skip
                return None
        assert url is not None
        refusal = egress.refusal(url, self.egress, field=field_name)
        if refusal is not None:
            notes.append(Note(True, "AlertNotSent", f"{refusal}; the alert is not sent", condition=condition))
            return None
        return url


def record(history: list[dict[str, Any]], notes: list[Note], now: str) -> list[dict[str, Any]]:
    """``status.actions`` with the alerts that were not sent or failed (action ``alert``), so the
    status says it too; the same message as the newest alert entry is not repeated."""
    for note in notes:
        if note.reason not in ("AlertNotSent", "AlertFailed"):
            continue
        result = "Skipped" if note.reason == "AlertNotSent" else "Failed"
        last = next((h for h in reversed(history) if h.get("action") == "alert"), None)
        said = (result, note.message[:1024])
        if last is not None and (last.get("result"), last.get("message")) == said:
            continue
        decision = policy.Decision("alert", note.condition or "Alert", result, note.message)
        history = policy.record(history, decision, now=now)
    return history

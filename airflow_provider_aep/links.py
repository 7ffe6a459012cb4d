"""Operator extra links to the Adobe Experience Platform UI."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow_provider_aep._compat import BaseOperatorLink, xcom_get_value

AEP_UI_URL = "https://experience.adobe.com/#/sname:{sandbox}/platform/source"
LINK_XCOM_KEY = "aep_url"


def source_accounts_url(sandbox: str, connection_id: str | None = None) -> str:
    """The sandbox's Sources > Accounts page, opened on one base connection when given."""
    url = AEP_UI_URL.format(sandbox=quote(sandbox, safe="")) + "/accounts"
    return f"{url}/{quote(connection_id, safe='')}" if connection_id else url


def dataflow_url(sandbox: str, flow_id: str) -> str:
    """The dataflow's monitoring page (its runs)."""
    return AEP_UI_URL.format(sandbox=quote(sandbox, safe="")) + f"/dataflows/{quote(flow_id, safe='')}/runs"


class _XComLink(BaseOperatorLink):
    """A link whose URL the task pushed to XCom under ``aep_url``."""

    name = "Adobe Experience Platform"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return xcom_get_value(ti_key=ti_key, key=LINK_XCOM_KEY) or ""


class AepConnectionLink(_XComLink):
    """Opens the base connection's account page in the AEP UI."""

    name = "AEP source account"


class AepDataflowLink(_XComLink):
    """Opens the dataflow's monitoring page in the AEP UI."""

    name = "AEP dataflow"

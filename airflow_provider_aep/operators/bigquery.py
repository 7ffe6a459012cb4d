"""Create the Adobe Experience Platform base connection to a Google BigQuery project."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_aep._compat import BaseOperator, mask_secret
from airflow_provider_aep.constants import (
    BASIC_AUTH_SPEC,
    BIGQUERY_CONNECTION_SPEC_ID,
    BIGQUERY_CONNECTION_SPEC_VERSION,
    SERVICE_AUTH_SPEC,
)
from airflow_provider_aep.exceptions import AdobeApiError, AepInputError
from airflow_provider_aep.links import LINK_XCOM_KEY, AepConnectionLink, source_accounts_url

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_aep._compat import Context
    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook
    from airflow_provider_aep.utils.google_credentials import ServiceAccountKey

AUTH_TYPES = ("service", "basic")
IF_EXISTS = ("reuse", "update", "error")


@dataclass(frozen=True)
class BigQueryAuth:
    """The ``auth`` object Adobe expects for a BigQuery base connection."""

    auth_type: str
    params: dict[str, Any] = field(repr=False)

    @property
    def spec_name(self) -> str:
        return SERVICE_AUTH_SPEC if self.auth_type == "service" else BASIC_AUTH_SPEC

    def as_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"specName": self.spec_name, "params": self.params}
        if self.auth_type == "basic":
            body["type"] = "OAuth2.0"
        return body


class CreateBigQueryBaseConnectionOperator(BaseOperator):
    """Create (or reuse) the AEP base connection to a Google BigQuery project; return its id.

    Service auth takes a service-account key (``key_file_content`` or ``gcp_conn_id``); basic auth
    takes a Google OAuth client and refresh token. Everything is checked before any request.

    :param name: name of the AEP base connection (templated); also its identity for idempotency.
    :param description: its description (templated).
    :param aep_conn_id: Airflow connection of the Adobe credential.
    :param auth_type: ``"service"`` or ``"basic"``; inferred from the other arguments when omitted.
    :param project_id: Google Cloud project; defaults to the key's or GCP connection's project.
    :param key_file_content: service-account key as a dict, JSON text or Base64 of the JSON.
    :param gcp_conn_id: Airflow Google Cloud connection holding the key (``keyfile_dict`` or ``key_path``).
    :param google_client_id: basic auth: Google OAuth client id.
    :param google_client_secret: basic auth: Google OAuth client secret.
    :param google_refresh_token: basic auth: refresh token with the BigQuery and cloud-platform scopes.
    :param large_results_dataset_id: bare dataset id for large results (AEP on Azure only).
    :param dataset_id: bare dataset id of the tables (AEP on AWS, required there).
    :param if_exists: ``"reuse"`` the connection of that name, ``"update"`` its auth params, or ``"error"``.
    :param verify_google_credentials: mint a Google token with the credentials before calling Adobe.
    :param test_after_create: ask Adobe to test the connection and fail if it cannot reach BigQuery.
    :param google_token_uri: Google token endpoint for ``verify_google_credentials`` (for private endpoints).
    """

    template_fields: Sequence[str] = (
        "name",
        "description",
        "project_id",
        "large_results_dataset_id",
        "dataset_id",
        "gcp_conn_id",
        "aep_conn_id",
        "google_client_id",
        "google_client_secret",
        "google_refresh_token",
    )
    ui_color = "#fa0f00"
    operator_extra_links = (AepConnectionLink(),)

    def __init__(
        self,
        *,
        name: str,
        description: str | None = None,
        aep_conn_id: str = "aep_default",
        auth_type: str | None = None,
        project_id: str | None = None,
        key_file_content: dict[str, Any] | str | bytes | None = None,
        gcp_conn_id: str | None = None,
        google_client_id: str | None = None,
        google_client_secret: str | None = None,
        google_refresh_token: str | None = None,
        large_results_dataset_id: str | None = None,
        dataset_id: str | None = None,
        if_exists: str = "reuse",
        verify_google_credentials: bool = False,
        test_after_create: bool = False,
        google_token_uri: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if auth_type is not None and auth_type not in AUTH_TYPES:
            raise AepInputError(f"auth_type: must be 'service' or 'basic', got {auth_type!r}.")
        if if_exists not in IF_EXISTS:
            raise AepInputError(f"if_exists: must be 'reuse', 'update' or 'error', got {if_exists!r}.")
        self.name = name
        self.description = description
        self.aep_conn_id = aep_conn_id
        self.auth_type = auth_type
        self.project_id = project_id
        self.key_file_content = key_file_content
        self.gcp_conn_id = gcp_conn_id
        self.google_client_id = google_client_id
        self.google_client_secret = google_client_secret
        self.google_refresh_token = google_refresh_token
        self.large_results_dataset_id = large_results_dataset_id
        self.dataset_id = dataset_id
        self.if_exists = if_exists
        self.verify_google_credentials = verify_google_credentials
        self.test_after_create = test_after_create
        self.google_token_uri = google_token_uri

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render, then register the rendered Google secrets before Airflow stores rendered fields."""
        super().render_template_fields(context, jinja_env)
        self._mask_inputs()

    # ----------------------------------------------------------------- validation (no requests)
    def _mask_inputs(self) -> None:
        for secret in (self.google_client_secret, self.google_refresh_token):
            if isinstance(secret, str) and secret.strip():
                mask_secret(secret)
                mask_secret(secret.strip())  # the form sent to Adobe

    def _resolve_auth_type(self) -> str:
        service_args = [n for n in ("key_file_content", "gcp_conn_id") if getattr(self, n) not in (None, "")]
        basic_args = [
            n
            for n in ("google_client_id", "google_client_secret", "google_refresh_token")
            if getattr(self, n) not in (None, "")
        ]
        if self.auth_type == "service" and basic_args:
            raise AepInputError(f"auth_type: 'service' was chosen but basic-auth arguments were given: {basic_args}.")
        if self.auth_type == "basic" and service_args:
            raise AepInputError(f"auth_type: 'basic' was chosen but service-auth arguments were given: {service_args}.")
        if self.auth_type:
            return self.auth_type
        if service_args and basic_args:
            raise AepInputError(
                f"auth_type: ambiguous, both service-auth {service_args} and basic-auth {basic_args} arguments "
                "were given; set auth_type='service' or 'basic' and drop the others."
            )
        if service_args:
            return "service"
        if basic_args:
            return "basic"
        raise AepInputError(
            "auth_type: no Google credentials given; pass key_file_content or gcp_conn_id (service auth), "
            "or google_client_id, google_client_secret and google_refresh_token (basic auth)."
        )

    def build_auth(self, cloud: str) -> BigQueryAuth:
        """Check every argument and build the ``auth`` object; raises before any request."""
        from airflow_provider_aep.utils.identifiers import check_dataset_id, check_project_id

        self._mask_inputs()
        if not isinstance(self.name, str) or not self.name.strip():
            raise AepInputError("name: the base connection needs a non-empty name.")
        if len(self.name) > 256:
            raise AepInputError(f"name: at most 256 characters, got {len(self.name)}.")
        if self.key_file_content not in (None, "") and self.gcp_conn_id not in (None, ""):
            raise AepInputError("key_file_content: give either key_file_content or gcp_conn_id, not both.")
        auth_type = self._resolve_auth_type()
        if cloud == "aws" and auth_type == "basic":
            raise AepInputError(
                "auth_type: Experience Platform on AWS accepts only service auth for BigQuery; pass a "
                "service-account key (key_file_content or gcp_conn_id) instead of the Google OAuth client."
            )
        params: dict[str, Any]
        key: ServiceAccountKey | None = None
        if auth_type == "service":
            key, default_project = self._service_key()
            project = check_project_id(self.project_id or default_project, "project_id")
            params = {"projectId": project, "keyFileContent": key.as_base64()}
            mask_secret(params["keyFileContent"])
        else:
            params = {"project": check_project_id(self.project_id, "project_id"), **self._basic_params()}
        if cloud == "aws":
            if self.large_results_dataset_id:
                raise AepInputError(
                    "large_results_dataset_id: not used by Experience Platform on AWS; drop it "
                    "(use dataset_id for the dataset holding the tables)."
                )
            if not self.dataset_id:
                raise AepInputError(
                    "dataset_id: Experience Platform on AWS needs the BigQuery dataset that holds the tables, "
                    "e.g. dataset_id='crm'."
                )
            params["datasetId"] = check_dataset_id(self.dataset_id, "dataset_id")
        else:
            if self.dataset_id:
                raise AepInputError(
                    "dataset_id: only used by Experience Platform on AWS; this connection's 'cloud' extra is "
                    "azure. Drop dataset_id or set cloud to aws."
                )
            if self.large_results_dataset_id:
                params["largeResultsDataSetId"] = check_dataset_id(
                    self.large_results_dataset_id, "large_results_dataset_id"
                )
        if self.verify_google_credentials:  # the only network call, after every local check
            self._verify_with_google(auth_type, params, key)
        return BigQueryAuth(auth_type=auth_type, params=params)

    def _verify_with_google(self, auth_type: str, params: dict[str, Any], key: ServiceAccountKey | None) -> None:
        """Mint a Google access token with the credentials; fail with Google's reason."""
        from airflow_provider_aep.utils import google_credentials

        if key is not None:
            google_credentials.verify_service_account(key, self.google_token_uri)
            self.log.info("Google accepted the key of service account %s.", key.client_email)
            return
        google_credentials.verify_refresh_token(
            params["clientId"], params["clientSecret"], params["refreshToken"], self.google_token_uri
        )
        self.log.info("Google accepted the refresh token of OAuth client %s.", params["clientId"])

    def _service_key(self) -> tuple[ServiceAccountKey, str | None]:
        from airflow_provider_aep.utils.google_credentials import parse_service_account_key, read_gcp_connection

        if self.gcp_conn_id:
            from airflow_provider_aep._compat import BaseHook

            try:
                conn = BaseHook.get_connection(self.gcp_conn_id)
            except Exception as err:
                raise AepInputError(f"gcp_conn_id: Airflow connection {self.gcp_conn_id!r} not found.") from err
            gcp = read_gcp_connection(conn)
            return gcp.key, gcp.project_id or gcp.key.project_id
        if self.key_file_content in (None, ""):
            raise AepInputError(
                "key_file_content: service auth needs the service-account key; pass key_file_content "
                "(dict, JSON text or Base64) or gcp_conn_id (an Airflow Google Cloud connection)."
            )
        key = parse_service_account_key(self.key_file_content, "key_file_content")
        return key, key.project_id

    def _basic_params(self) -> dict[str, str]:
        values = {
            "google_client_id": self.google_client_id,
            "google_client_secret": self.google_client_secret,
            "google_refresh_token": self.google_refresh_token,
        }
        for arg, value in values.items():
            if not isinstance(value, str) or not value.strip():
                raise AepInputError(
                    f"{arg}: basic auth needs google_client_id, google_client_secret and google_refresh_token; "
                    f"{arg} is missing or empty."
                )
        client_id = values["google_client_id"].strip()  # type: ignore[union-attr]
        if not client_id.endswith(".apps.googleusercontent.com"):
            raise AepInputError(
                "google_client_id: expected a Google OAuth client id ending in '.apps.googleusercontent.com'."
            )
        return {
            "clientId": client_id,
            "clientSecret": self.google_client_secret.strip(),  # type: ignore[union-attr]
            "refreshToken": self.google_refresh_token.strip(),  # type: ignore[union-attr]
        }

    # ----------------------------------------------------------------- execution
    def execute(self, context: Context) -> str:
        from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

        hook = AdobeExperiencePlatformHook(aep_conn_id=self.aep_conn_id)
        settings = hook.settings
        auth = self.build_auth(settings.cloud)
        self.log.info(
            "BigQuery base connection %r: org %s, sandbox %s, %s auth, Experience Platform on %s.",
            self.name,
            settings.org_id,
            settings.sandbox_name,
            auth.auth_type,
            settings.cloud,
        )
        connection, action = self._ensure(hook, auth)
        connection_id = connection["id"]
        etag = connection.get("etag")
        self.log.info("Base connection %s %s (etag %s).", connection_id, action, etag)
        if self.test_after_create:
            if not hook.check_connection(connection_id):
                from airflow.exceptions import AirflowException

                project = auth.params.get("projectId") or auth.params.get("project")
                raise AirflowException(
                    f"Adobe could not reach BigQuery project {project} with base connection {connection_id}: "
                    "check the Google credentials and IAM roles (BigQuery Job User, Data Viewer, Read Session User)."
                )
            self.log.info("Adobe tested base connection %s: BigQuery is reachable.", connection_id)
        ti = context["ti"]
        ti.xcom_push(key="etag", value=etag)
        ti.xcom_push(key=LINK_XCOM_KEY, value=source_accounts_url(settings.sandbox_name, connection_id))
        return connection_id

    def _ensure(self, hook: AdobeExperiencePlatformHook, auth: BigQueryAuth) -> tuple[dict[str, Any], str]:
        """Reuse, update or create the connection named ``self.name``; never create a second one."""

        def find() -> dict[str, Any] | None:
            matches = hook.find_connections(name=self.name, connection_spec_id=BIGQUERY_CONNECTION_SPEC_ID)
            if len(matches) > 1:
                self.log.warning(
                    "%d base connections are named %r; using the oldest, %s.",
                    len(matches),
                    self.name,
                    min(matches, key=lambda c: c.get("createdAt", 0))["id"],
                )
            return min(matches, key=lambda c: c.get("createdAt", 0)) if matches else None

        existing = find()
        if existing is not None:
            return self._handle_existing(hook, existing, auth), "reused" if self.if_exists == "reuse" else "updated"
        body: dict[str, Any] = {
            "name": self.name,
            "auth": auth.as_body(),
            "connectionSpec": {"id": BIGQUERY_CONNECTION_SPEC_ID, "version": BIGQUERY_CONNECTION_SPEC_VERSION},
        }
        if self.description:
            body["description"] = self.description
        created, _ = hook.create_once(
            kind="base connection",
            name=self.name,
            create=lambda: hook.create_connection(body),
            find=find,
            look_first=False,  # looked just above
            discard=lambda connection_id: hook.delete_connection(connection_id, missing_ok=True),
        )
        return created, "created"

    def _handle_existing(
        self, hook: AdobeExperiencePlatformHook, existing: dict[str, Any], auth: BigQueryAuth
    ) -> dict[str, Any]:
        connection_id = existing["id"]
        if self.if_exists == "error":
            raise AepInputError(
                f"name: a BigQuery base connection named {self.name!r} already exists ({connection_id}); "
                "set if_exists='reuse' to use it or 'update' to replace its credentials."
            )
        existing_spec = (existing.get("auth") or {}).get("specName")
        if existing_spec and existing_spec != auth.spec_name:
            if self.if_exists == "update":
                raise AepInputError(
                    f"auth_type: base connection {connection_id} uses {existing_spec!r}; it cannot be updated to "
                    f"{auth.spec_name!r}. Create a connection with another name instead."
                )
            self.log.warning(
                "Base connection %s uses %s, not %s as requested; reusing it as it is.",
                connection_id,
                existing_spec,
                auth.spec_name,
            )
        if self.if_exists == "reuse":
            return existing
        return self._update_auth(hook, existing, auth)

    def _update_auth(
        self, hook: AdobeExperiencePlatformHook, existing: dict[str, Any], auth: BigQueryAuth
    ) -> dict[str, Any]:
        """PATCH the auth params with ``If-Match``.

        After a stale etag (412) or an ambiguous failure (timeout, 5xx, dropped connection), read the
        etag again and resend: the replace is idempotent and guarded by ``If-Match``.
        """
        import time

        from airflow_provider_aep.hooks._retry import RetryBudget

        connection_id = existing["id"]
        operations = [{"op": "replace", "path": "/auth/params", "value": auth.params}]
        etag = existing.get("etag") or hook.get_connection_by_id(connection_id).get("etag")
        settings = hook.settings
        budget = RetryBudget(settings.max_retries, settings.retry_deadline, settings.backoff_base)
        while True:
            try:
                result = hook.update_connection(connection_id, operations, etag)
                return {"id": connection_id, "etag": result.get("etag", etag)}
            except AdobeApiError as err:
                if err.status != 412 and not err.ambiguous:
                    raise
                wait = budget.next_wait()
                if wait is None:
                    raise
                why = "changed meanwhile (stale etag)" if err.status == 412 else "may not have been updated"
                self.log.warning("Base connection %s %s; reading it again and resending.", connection_id, why)
                if err.status != 412:
                    time.sleep(wait)
                etag = hook.get_connection_by_id(connection_id).get("etag")

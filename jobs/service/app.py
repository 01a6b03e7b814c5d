"""The HTTP API and page as a FastAPI app: tables, search, similar, projections.

No Ray here: `build_app(Tables(db))` (tables.py) runs under any ASGI server; `jobs.service.serve`
puts it on Ray Serve. Every error is JSON `{"error": message}`: user errors are 4xx, anything unexpected is
a 500 whose traceback stays in the server log.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from actors.projection.project import project_table
from actors.query.actor import RowNotFoundError
from jobs import __version__
from jobs.errors import UserError, user_message
from jobs.service.maps import category_column
from jobs.service.searches import SearchRequest
from jobs.service.tables import Tables
from storage.db import TableNotFoundError, open_table
from storage.index import has_text_index
from storage.info import table_info
from storage.names import validate_table_name
from storage.schema import HIDDEN_COLUMNS, is_chunked

log = logging.getLogger("embedfleet.service")

# The most results one HTTP query may ask for (the query actor's own limit, MAX_K, is higher):
# the API answers anyone who can reach it, so one request stays small (README, web service).
HTTP_MAX_K = 1000
MAX_BATCH = 64
MAX_TEXT = 10_000
MAX_BODY = 1 << 20
MAX_PROJECT = 20_000
PAGE = Path(__file__).with_name("page.html")
SCATTER = Path(__file__).with_name("scatter.js")


class SearchBody(BaseModel):
    """POST /tables/{t}/search: one query (text or vector) or a batch of texts."""

    model_config = ConfigDict(extra="forbid")
    query: str | list[float] | None = Field(None, description="a text, or a vector of the table's dim")
    queries: list[str] | None = Field(None, min_length=1, max_length=MAX_BATCH)
    k: int = Field(10, ge=1, le=HTTP_MAX_K)
    filters: list | dict | None = Field(None, description='[{"column", "op", "value"}, ...]')
    rerank: bool = False
    hybrid: bool = False
    group_by_document: bool = Field(True, description="chunked tables: false gives chunk hits")


def build_app(tables: Tables, token: str | None = None) -> FastAPI:
    """The FastAPI app over a Tables registry; with a token every API call must bear it."""
    app = FastAPI(title="embedfleet", version=__version__,
                  description="Search LanceDB tables made by embedfleet and look at their UMAP maps.")
    api = APIRouter(dependencies=[Depends(bearer_check(token))])
    _add_error_handlers(app)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text().replace("/*SCATTER*/", SCATTER.read_text()))

    @app.get("/health")
    def health() -> dict:
        """Liveness: the service answers."""
        return {"ok": True}

    @api.get("/tables")
    def get_tables() -> dict:
        """The tables in the database folder."""
        return {"tables": tables.names()}

    @api.get("/tables/{table}")
    def get_table(table: str) -> JSONResponse:
        """Rows, dim, columns, provenance and versions of a table."""
        validate_table_name(table)
        info = table_info(tables.db, table)
        info["filter_columns"] = [c.split(":")[0] for c in info["columns"]
                                  if c.split(":")[0] not in HIDDEN_COLUMNS]
        info["color_by"] = _category_of(tables.db, table, info["filter_columns"])
        info["hybrid"] = has_text_index(tables.db, table)  # hybrid search needs the BM25 index
        # Hits of a chunked table are documents with their best passage (the page says so).
        info["chunked"] = is_chunked(open_table(tables.db, table).schema)
        return JSONResponse(json.loads(json.dumps(info, default=str)))

    @api.get("/tables/{table}/search")
    async def search_get(table: str,
                         q: Annotated[list[str], Query(min_length=1, max_length=MAX_BATCH)],
                         k: Annotated[int, Query(ge=1, le=HTTP_MAX_K)] = 10,
                         filters: str | None = None, rerank: bool = False,
                         hybrid: bool = False, group_by_document: bool = True) -> dict:
        """Top-k for a text (?q=...), or for several (?q=a&q=b); filters as a JSON list."""
        return await _search(tables, table, q[0] if len(q) == 1 else None,
                             q if len(q) > 1 else None, k, _parse_filters(filters), rerank, hybrid,
                             group_by_document)

    @api.post("/tables/{table}/search")
    async def search_post(table: str, request: Request) -> dict:
        """Top-k for {"query": ...} or {"queries": [...]}, with k, filters and flags."""
        body = await _read_json(request)
        try:
            parsed = SearchBody.model_validate(body)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        if (parsed.query is None) == (parsed.queries is None):
            raise HTTPException(422, 'give exactly one of "query" and "queries"')
        return await _search(tables, table, parsed.query, parsed.queries, parsed.k, parsed.filters,
                             parsed.rerank, parsed.hybrid, parsed.group_by_document)

    @api.get("/tables/{table}/similar/{doc_id:path}")
    def similar(table: str, doc_id: str, k: Annotated[int, Query(ge=1, le=HTTP_MAX_K)] = 10,
                filters: str | None = None, group_by_document: bool = True) -> dict:
        """The rows closest to a stored row (a document of a chunked table), itself excluded."""
        hits = tables.call(table, "similar", doc_id, k, _parse_filters(filters),
                           group_by_document=group_by_document)
        return {"table": table, "id": doc_id, "k": k, "hits": [h.to_dict() for h in hits]}

    @api.get("/tables/{table}/projection")
    def projection(table: str, n: Annotated[int, Query(ge=1, le=MAX_PROJECT)] = 5000,
                   seed: Annotated[int, Query(ge=0, le=2**32 - 1)] = 0, color_by: str | None = None,
                   n_neighbors: Annotated[int, Query(ge=2, le=200)] = 15,
                   min_dist: Annotated[float, Query(ge=0, le=1)] = 0.1,
                   text_chars: Annotated[int, Query(ge=0, le=MAX_TEXT)] = 300) -> dict:
        """UMAP coordinates of a seeded sample, with ids, texts and colours; cached per version."""
        version = tables.call(table, "info")["version"]
        # Not through the table's batcher: a long projection must not hold up searches.
        made = project_table(tables.db, table, n, seed, color_by or None, n_neighbors, min_dist,
                             version=version)
        return made.to_dict(text_chars=text_chars)

    app.include_router(api)
    return app


async def _search(tables: Tables, table: str, query, queries, k: int, filters, rerank: bool,
                  hybrid: bool, group_by_document: bool = True) -> dict:
    if any(isinstance(t, str) and len(t) > MAX_TEXT for t in [query, *(queries or [])]):
        raise HTTPException(422, f"a query text has at most {MAX_TEXT} characters")
    texts = tuple(queries) if queries is not None else (query,) if isinstance(query, str) else ()
    vector = None if isinstance(query, str) or queries is not None else tuple(query)
    request = SearchRequest(texts, vector, k, filters, rerank, hybrid, group_by_document)
    # Opening a table loads its model: a thread's work, not the event loop's. An open one's
    # batcher takes the request at once (a thread hop per request costs under load).
    future = tables.submit_if_open(table, request)
    if future is None:
        future = await run_in_threadpool(tables.submit, table, request)
    results = await asyncio.wrap_future(future)
    if queries is not None:
        return {"table": table, "k": k, "results": [{"query": q, "hits": [h.to_dict() for h in hits]}
                                                     for q, hits in zip(queries, results, strict=True)]}
    return {"table": table, "k": k, "query": query if isinstance(query, str) else None,
            "hits": [h.to_dict() for h in results[0]]}


def _category_of(db: str, table: str, columns: list[str]) -> str | None:
    """The column the page colours the map by at first: a categorical one, if the table has one."""
    candidates = [c for c in columns if c not in ("id", "text", "doc_id")]
    if not candidates:
        return None
    sample = open_table(db, table).to_lance().to_table(columns=candidates, limit=2000)
    return category_column(sample)


def _parse_filters(text: str | None):
    """The ?filters= parameter: a JSON list of {"column", "op", "value"} objects."""
    if not text:
        return None
    try:
        filters = json.loads(text)
    except ValueError as exc:
        raise HTTPException(400, f"filters is not valid JSON ({exc}); expected a list like "
                                 '[{"column": "year", "op": ">=", "value": 2020}]') from None
    if not isinstance(filters, (list, dict)):
        raise HTTPException(400, 'filters must be a JSON list of {"column", "op", "value"} objects')
    return filters


async def _read_json(request: Request):
    """The request body as JSON, refusing bodies over MAX_BODY bytes."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY:
        raise HTTPException(413, f"request body over {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise HTTPException(413, f"request body over {MAX_BODY} bytes")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise HTTPException(400, f"request body is not valid JSON: {exc}") from None


def bearer_check(token: str | None):
    """A dependency that demands 'Authorization: Bearer <token>' when a token is set."""
    def check(request: Request) -> None:
        if not token:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise HTTPException(401, "missing or wrong bearer token: send 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})
    return check


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    def user_error(_: Request, exc: Exception) -> JSONResponse:
        missing = isinstance(exc, (TableNotFoundError, RowNotFoundError))
        return _error(404 if missing else 400, user_message(exc))

    app.add_exception_handler(UserError, user_error)

    @app.exception_handler(HTTPException)
    def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "; ".join(_describe(e) for e in exc.errors()))

    app.add_middleware(NoTracebacks)


class NoTracebacks:
    """ASGI middleware: an unexpected exception becomes a JSON 500; its traceback goes to the log."""

    # Plain ASGI rather than @app.middleware("http"): Starlette's BaseHTTPMiddleware runs every
    # request through a task group and a memory stream, CPU that a busy replica spends per request.
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watched_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception:  # noqa: BLE001 - the client gets JSON; the traceback goes to the log
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # part of a response went out: nothing clean can follow it
                raise
            await _error(500, "internal error; the server log has the details")(scope, receive, send)


def _describe(error: dict) -> str:
    """One validation error as 'where: what' (e.g. 'k: Input should be less than or equal to 1000')."""
    where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "body", "path"))
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid"))

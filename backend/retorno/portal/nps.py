"""The NPS survey on the brand's host: "from 0 to 10, how likely are you to recommend us?", eleven
radio buttons and a comment in a plain form (no JavaScript needed). The survey's unguessable token
is what opens it, from the app's card or from the push, WhatsApp or e-mail that asked; it is
answered once (nps/service.py), and another brand's token is not found here."""

from __future__ import annotations

from litestar import Request, Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath
from litestar.response import Redirect, Template

from retorno.errors import Conflict, Invalid
from retorno.nps import service as nps
from retorno.portal.routes import load_shopper, page_context, requires_brand
from retorno.web import brand_required, error_text, now_of

# The token is the survey's key: it must not leak to another site as a Referer.
NO_REFERRER = {"referrer-policy": "no-referrer"}


def _page(request: Request, survey: nps.SurveyView, *, status: int = 200, **extra: object) -> Template:
    context = page_context(
        request,
        survey=survey,
        scores=range(11),
        comment_max=nps.COMMENT_MAX,
        **{"error": "", "typed_score": "", "typed_comment": "", "already": False} | extra,
    )
    return Template("portal/nps.html", status_code=status, context=context, headers=NO_REFERRER)


@get("/nps/{token:str}")
async def survey_page(request: Request, token: FromPath[str]) -> Template:
    survey = await nps.survey(brand_id=brand_required(request).id, token=token)
    return _page(request, survey, done=request.query_params.get("done") == "1")


@post("/nps/{token:str}", status_code=303)
async def answer(request: Request, token: FromPath[str]) -> Template | Redirect:
    brand = brand_required(request)
    survey = await nps.survey(brand_id=brand.id, token=token)
    form = await request.form()
    score, comment = str(form.get("score", "")), str(form.get("comment", ""))
    try:
        await nps.answer(brand_id=brand.id, token=token, score=score, comment=comment, now=now_of(request))
    except Invalid as exc:
        return _page(
            request,
            survey,
            status=422,
            error=error_text(request, exc),
            typed_score=score,
            typed_comment=comment,
        )
    except Conflict:
        answered = await nps.survey(brand_id=brand.id, token=token)
        return _page(request, answered, status=409, already=True)
    return Redirect(f"/nps/{token}?done=1", status_code=303, headers=NO_REFERRER)


router = Router(
    path="/",
    guards=[requires_brand],
    include_in_schema=False,
    before_request=load_shopper,
    cache_control=CacheControlHeader(no_store=True, private=True),
    route_handlers=[survey_page, answer],
)

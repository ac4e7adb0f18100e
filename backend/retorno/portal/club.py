"""The shopper's benefits club: the partner benefits their segment sees now; a code shown once they
tap for it, a partner's link followed through a redirect that counts it, a pass to show at the
partner (their name and member number). Each use is recorded once (club/service.py); every page
works without JavaScript."""

from __future__ import annotations

from litestar import Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from retorno.club import service as club
from retorno.customers import service as customers
from retorno.portal.routes import load_shopper, page_context, requires_brand
from retorno.signin.guards import requires_customer, signed_in_customer
from retorno.web import RowId, brand_required, now_of

SIGNED_IN = [requires_customer]
# The partner's site is told nothing of the app's addresses.
NO_REFERRER = {"cache-control": "no-store", "referrer-policy": "no-referrer"}


async def _shopper(request: Request) -> customers.CustomerView:
    return await customers.get(brand_required(request).id, await signed_in_customer(request))


@get("/club", guards=SIGNED_IN)
async def club_page(request: Request) -> Template:
    brand, shopper, now = brand_required(request), await _shopper(request), now_of(request)
    found = await club.visible(brand_id=brand.id, customer_id=shopper.id, segment=shopper.segment, now=now)
    return Template("portal/club.html", context=page_context(request, benefits=found))


@get("/club/{benefit_id:int}", guards=SIGNED_IN)
async def benefit_page(request: Request, benefit_id: RowId) -> Template:
    """One benefit: its code (once the shopper tapped for it), or the pass to show at the partner."""
    brand, shopper, now = brand_required(request), await _shopper(request), now_of(request)
    benefit = await club.shown(brand_id=brand.id, benefit_id=benefit_id, segment=shopper.segment, now=now)
    used = await club.used(brand_id=brand.id, benefit_id=benefit_id, customer_id=shopper.id)
    context = page_context(
        request,
        benefit=benefit,
        used=used,
        name=shopper.name,
        member=club.member_number(brand, shopper.id),
        now=now,
        back="/club",
        tab="home",
        tab_page=False,
    )
    return Template("portal/club_benefit.html", context=context)


@post("/club/{benefit_id:int}/use", guards=SIGNED_IN, status_code=303)
async def use_benefit(request: Request, benefit_id: RowId) -> Redirect:
    """ "See the code" or "show at the partner": recorded once however often it is tapped, then the
    benefit's page with the code or the pass."""
    brand, shopper = brand_required(request), await _shopper(request)
    await club.use(
        brand_id=brand.id,
        benefit_id=benefit_id,
        customer_id=shopper.id,
        segment=shopper.segment,
        now=now_of(request),
    )
    return Redirect(f"/club/{benefit_id}", status_code=303)


@get("/club/{benefit_id:int}/go", guards=SIGNED_IN)
async def follow_link(request: Request, benefit_id: RowId) -> Redirect:
    """A partner's link: counted (once per shopper), then on to the partner's site. A GET, as any link
    is: a form's redirect to another site would be stopped by the CSP's form-action 'self'."""
    brand, shopper = brand_required(request), await _shopper(request)
    benefit = await club.shown(
        brand_id=brand.id, benefit_id=benefit_id, segment=shopper.segment, now=now_of(request)
    )
    if benefit.how != "link":
        raise NotFoundException()
    await club.use(
        brand_id=brand.id,
        benefit_id=benefit_id,
        customer_id=shopper.id,
        segment=shopper.segment,
        now=now_of(request),
    )
    return Redirect(benefit.url, status_code=302, headers=NO_REFERRER)


@get("/club/{benefit_id:int}/image.jpg", guards=SIGNED_IN)
async def benefit_image(request: Request, benefit_id: RowId) -> Response[bytes]:
    """A benefit's picture, to the shoppers who see the benefit; kept by the browser while its digest
    (the ?v= of its address) stays the same."""
    brand, shopper = brand_required(request), await _shopper(request)
    await club.shown(brand_id=brand.id, benefit_id=benefit_id, segment=shopper.segment, now=now_of(request))
    found = await club.image(brand_id=brand.id, benefit_id=benefit_id)
    if found is None:
        raise NotFoundException()
    data, digest = found
    versioned = request.query_params.get("v") == digest
    cache = "private, max-age=31536000, immutable" if versioned else "private, no-cache"
    return Response(data, media_type="image/jpeg", headers={"cache-control": cache, "etag": f'"{digest}"'})


router = Router(
    path="/",
    guards=[requires_brand],
    include_in_schema=False,
    before_request=load_shopper,
    route_handlers=[
        benefit_image,
        Router(
            path="/",
            cache_control=CacheControlHeader(no_store=True, private=True),
            route_handlers=[club_page, benefit_page, use_benefit, follow_link],
        ),
    ],
)

"""Writing a brand back as a pack: its brand.toml document, its folder, or a .zip of that folder.

The inverse of the reader (brands/pack.py) for every value a pack keeps: what is written here reads
back as the same `Pack`, so an exported brand imports elsewhere unchanged. Amounts are written as
reais with a dot ("20.00"), rates and multipliers as plain numbers (10, 2.5).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import msgspec
import tomli_w

from retorno.brands.pack import BANNER_FILE, LOGO_FILE, REGULATIONS_FILE, Pack
from retorno.money import from_hundredths, reais


def to_toml(pack: Pack) -> dict[str, Any]:
    """The brand.toml document for a pack: the inverse of read_pack for every value it keeps."""
    r, cb = pack.rules, pack.rules.cashback
    doc: dict[str, Any] = {
        "slug": pack.slug,
        "name": pack.name,
        "short_name": pack.short_name,
        "locale": pack.locale,
        "currency": pack.currency,
        "timezone": pack.timezone,
        "hosts": list(pack.hosts),
        "theme": {
            "primary": pack.theme.primary,
            "accent": pack.theme.accent,
            "background": pack.theme.background,
            "font": pack.theme.font,
            "corners": pack.theme.corners,
        },
        "contact": msgspec.structs.asdict(pack.contact),
        "cashback": {
            "rate": from_hundredths(cb.rate_bp),
            "min_purchase": reais(cb.min_purchase),
            "max_per_order": "" if cb.max_per_order is None else reais(cb.max_per_order),
            "pending_days": cb.pending_days,
            "expiry_days": cb.expiry_days,
            "refund_policy": cb.refund_policy,
            "categories": {k: from_hundredths(v) for k, v in cb.categories.items()},
            "segments": {k: from_hundredths(v) for k, v in cb.segments.items()},
            "bands": [{"from": reais(b.from_total), "rate": from_hundredths(b.rate_bp)} for b in cb.bands],
            "campaigns": [
                {
                    "name": c.name,
                    "starts": c.starts,
                    "ends": c.ends,
                    "multiplier": from_hundredths(c.multiplier_x100),
                    "categories": c.categories,
                }
                for c in cb.campaigns
            ],
        },
        "redemption": {
            "min_order": reais(r.redemption.min_order),
            "max_share": from_hundredths(r.redemption.max_share_bp),
        },
        "notifications": {"expiry_reminder_days": r.notifications.expiry_reminder_days},
    }
    if pack.logo_png is not None:
        doc["theme"]["logo"] = LOGO_FILE
    if pack.banner_png is not None:
        doc["theme"]["banner"] = BANNER_FILE
    if pack.regulations_md:
        doc["theme"]["regulations"] = REGULATIONS_FILE
    if r.vouchers:
        rules = []
        for v in r.vouchers:
            rule: dict[str, Any] = {"min_purchase": reais(v.min_purchase)}
            if v.amount is not None:
                rule["amount"] = reais(v.amount)
            else:
                rule["percent"] = from_hundredths(v.percent_bp or 0)
            rule |= {"min_order": reais(v.min_order), "valid_days": v.valid_days}
            rules.append(rule)
        doc["vouchers"] = {"rules": rules}
    if r.points is not None:
        pts = r.points.earn
        doc["points"] = {
            "program": r.program,
            "per_real": from_hundredths(pts.rate_bp),
            "min_purchase": reais(pts.min_purchase),
            "max_per_order": "" if pts.max_per_order is None else pts.max_per_order,
            "pending_days": pts.pending_days,
            "expiry_days": pts.expiry_days,
            "categories": {k: from_hundredths(v) for k, v in pts.categories.items()},
            "segments": {k: from_hundredths(v) for k, v in pts.segments.items()},
            "bands": [
                {"from": reais(b.from_total), "per_real": from_hundredths(b.rate_bp)} for b in pts.bands
            ],
        }
    if r.referral is not None:
        ref = r.referral
        doc["referral"] = {
            "referrer_reward": reais(ref.referrer_reward),
            "friend_reward": reais(ref.friend_reward),
            "min_first_purchase": reais(ref.min_first_purchase),
            "monthly_cap": ref.monthly_cap,
        }
    return doc


def write_pack(pack: Pack, folder: Path) -> None:
    """The pack as a folder that read_pack (and `retorno brands import`) reads back."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "brand.toml").write_text(tomli_w.dumps(to_toml(pack)), encoding="utf-8")
    for name, data in pack.files().items():
        (folder / name).write_bytes(data)


def to_zip(pack: Pack) -> bytes:
    """The pack as a .zip of its folder (brand.toml, logo.png, banner.png, regulations.md): unzipped,
    it is what `retorno brands import` reads, and the admin's pack import takes it back as it is."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("brand.toml", tomli_w.dumps(to_toml(pack)))
        for name, data in pack.files().items():
            archive.writestr(name, data)
    return out.getvalue()

"""Every registered template in every locale, rendered in a real browser (headless Chromium)
as a phone (320 px) and a laptop mail client (600 px) show it: nothing runs off the right
edge, and the one call to action is in the first screen. Screenshots go to
test-artifacts/emails/."""

import base64

import pytest

from memberflow.core.settings import Settings
from memberflow.messaging import registry
from memberflow.messaging.rendering import Renderer
from tests.support.browser import screenshot

RENDERER = Renderer(registry.template_folders(Settings()))
CASES = [(name, locale) for name in RENDERER.template_names() for locale in RENDERER.locales(name)]


@pytest.mark.parametrize("name,locale", CASES, ids=[f"{n}-{loc}" for n, loc in CASES])
def test_every_email_reads_on_a_phone_and_on_a_laptop(browser, name, locale):
    fields = registry.sample_fields(Settings(), locale)[name]
    html = RENDERER.render(name, locale, fields).html
    assert 'class="preheader"' in html and f'lang="{locale}"' in html
    browser.get("data:text/html;charset=utf-8;base64," + base64.b64encode(html.encode()).decode())
    for width in (320, 600):
        browser.set_window_size(width, 900)
        inner, wide = browser.execute_script(
            "return [window.innerWidth, document.documentElement.scrollWidth]"
        )
        assert wide <= inner, f"{name} ({locale}) is {wide} px wide in a {inner} px window"
        top = browser.execute_script(
            "const cta = document.querySelector('a.cta');"
            "return cta ? cta.getBoundingClientRect().top : null"
        )
        if width == 600 and top is not None:
            assert top < 900, f"{name} ({locale}): the call to action is below the first screen"
        screenshot(browser, f"emails/{name.replace('/', '-')}-{locale}-{width}px")

"""{% keep_page cached_page %}…{% endkeep_page %}, around the whole of base.html: on a page whose
view looked itself up with cached_page (int_app/teams/page_cache.py) and missed, the rendered page
is kept. Any other page renders as it always did. A hit never gets here: the view returns the kept
page without rendering."""

from django import template

from int_app.teams.page_cache import CachedPage, messages_pending

register = template.Library()


class KeepPageNode(template.Node):
    def __init__(self, nodelist: template.NodeList, cached_page: template.base.FilterExpression) -> None:
        self.nodelist = nodelist
        self.cached_page = cached_page

    def render(self, context: template.Context) -> str:
        html = self.nodelist.render(context)
        cached_page = self.cached_page.resolve(context)
        request = context.get("request")
        if isinstance(cached_page, CachedPage) and request is not None and not messages_pending(request):
            cached_page.store(html, csrf_token=str(context.get("csrf_token") or ""), nonce=str(context.get("csp_nonce") or ""))
        return html


@register.tag
def keep_page(parser: template.base.Parser, token: template.base.Token) -> KeepPageNode:
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError("{% keep_page cached_page %} takes the page the view looked up.")
    nodelist = parser.parse(("endkeep_page",))
    parser.delete_first_token()
    return KeepPageNode(nodelist, parser.compile_filter(bits[1]))

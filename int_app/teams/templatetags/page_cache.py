"""{% cached_fragment fragment %}…{% endcached_fragment %}: the part a view looked up with
page_fragment (int_app/teams/page_cache.py), from the cache when it was there, else rendered and kept."""

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


class CachedFragmentNode(template.Node):
    def __init__(self, nodelist: template.NodeList, fragment: template.base.FilterExpression) -> None:
        self.nodelist = nodelist
        self.fragment = fragment

    def render(self, context: template.Context) -> str:
        fragment = self.fragment.resolve(context)
        csrf_token = str(context.get("csrf_token") or "")
        nonce = str(context.get("csp_nonce") or "")
        if fragment is None:
            return self.nodelist.render(context)
        if fragment.hit:
            return mark_safe(fragment.restore(csrf_token=csrf_token, nonce=nonce))  # noqa: S308 - our own rendering, kept
        html = self.nodelist.render(context)
        fragment.store(html, csrf_token=csrf_token, nonce=nonce)
        return html


@register.tag
def cached_fragment(parser: template.base.Parser, token: template.base.Token) -> CachedFragmentNode:
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError("{% cached_fragment fragment %} takes the fragment the view looked up.")
    nodelist = parser.parse(("endcached_fragment",))
    parser.delete_first_token()
    return CachedFragmentNode(nodelist, parser.compile_filter(bits[1]))

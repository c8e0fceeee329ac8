// The NHS.UK frontend's template sets these classes with an inline script; our CSP allows no
// inline script, so this tiny file runs first thing in <body> instead.
document.body.className += " js-enabled" + ("noModule" in HTMLScriptElement.prototype ? " nhsuk-frontend-supported" : "");

// text.js: a page's words from its strings object (one object per language, `en` the
// fallback; {name} marks a value filled in) laid over the texts the pages share
// (/common/strings.js), and filling the page's [data-s] elements with them. Each page keeps
// only its strings in its own strings.js.
//
//   import { translator, fillStrings } from "/common/text.js";
//   export const { S, t } = translator(STRINGS);   // in the page's strings.js
//   fillStrings(t);                                  // once, at start
import { STRINGS as SHARED } from "/common/strings.js";

const isMap = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

// base with own laid over it, key by key (a map inside both merged the same way).
function over(base, own) {
  const out = { ...base };
  for (const [k, v] of Object.entries(own)) out[k] = isMap(v) && isMap(base[k]) ? over(base[k], v) : v;
  return out;
}

export function translator(strings) {
  const lang = (navigator.language || "en").slice(0, 2);
  const S = over(SHARED[lang] || SHARED.en, strings[lang] || strings.en);
  // S.x.y with {name} filled from vars; the path itself when there is no such string.
  const t = (path, vars = {}) => {
    const s = path.split(".").reduce((o, k) => (o == null ? o : o[k]), S);
    if (typeof s !== "string") return path;
    return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : ""));
  };
  return { S, t };
}

// [data-s] elements get the text of their key, [data-s-label] their aria-label; the document
// its title from "title".
export function fillStrings(t) {
  for (const el of document.querySelectorAll("[data-s]")) el.textContent = t(el.dataset.s);
  for (const el of document.querySelectorAll("[data-s-label]")) {
    el.setAttribute("aria-label", t(el.dataset.sLabel));
  }
  document.title = t("title");
}

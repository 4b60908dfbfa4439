/* A report card drawn with cairo (PDF surface into a memory buffer) and Pango (text shaping
 * and font fallback through fontconfig). Every string is first made valid, bounded UTF-8;
 * every piece of text is then drawn inside a box: one-line fields are ellipsized, the remarks
 * wrap and are cut at their box's height, and each box is a cairo clip, so no input can push
 * ink outside it or onto a second page.
 *
 * Threads: Pango's font maps are not safe to share between threads, so each thread that
 * renders gets its own PangoCairoFontMap on first use (a pthread key), kept for the thread's
 * life and released when the thread exits. A map per call was measured at ~34 ms a card
 * against ~4.5 ms with a kept one: its font lookups and loaded faces are what it caches.
 * Drawing then runs in parallel; only the page's emission (cairo writing the font subsets,
 * which touches FreeType faces cairo shares between threads, and crashed when two threads did
 * it at once) is serialized by one mutex. */
#include "academics/report_card_pdf.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cairo-pdf.h>
#include <cairo.h>
#include <pango/pangocairo.h>

/* A4 in points, and the page's margins. */
#define PAGE_W 595.28
#define PAGE_H 841.89
#define MARGIN 40.0
#define CONTENT_W (PAGE_W - 2 * MARGIN)

/* Text limits, in code points, applied before Pango sees a string: more than a line (or the
 * remarks box) can show, so nothing visible is lost, and shaping stays cheap for 100 KB
 * input. */
#define FIELD_MAX_CP 300
#define REMARKS_MAX_CP 3000
#define REMARKS_MAX_LINES 12
/* The remarks box's least height: 12 lines of 9.5 pt Noto Sans and its padding. */
#define BOX_MIN_H 170.0

/* Above this the card is drawn again with shorter text (see report_card_pdf). */
#define PDF_SOFT_MAX (90 * 1024)

/* Noto Sans first, then the Noto Sans of each Indian script (and a few others), so that
 * fontconfig's fallback picks the matching sans face rather than whatever covers the
 * script first; anything else still falls back through fontconfig. */
#define FONT_FAMILIES                                                                          \
    "Noto Sans,Noto Sans Devanagari,Noto Sans Bengali,Noto Sans Tamil,Noto Sans Telugu,"     \
    "Noto Sans Gujarati,Noto Sans Kannada,Noto Sans Malayalam,Noto Sans Gurmukhi,"           \
    "Noto Sans Oriya,Noto Sans Sinhala,Noto Sans Ol Chiki,Noto Sans Arabic,Noto Sans Hebrew"

/* ---------------------------------------------------------------------------------------- */
/* UTF-8 clean-up                                                                           */
/* ---------------------------------------------------------------------------------------- */

/* Decodes one strictly valid UTF-8 sequence at s (n bytes left); returns its length and sets
 * *cp, or 0 for an invalid or truncated sequence (overlong forms, surrogates, > U+10FFFF). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Returns a malloc'd copy of s (NULL reads as "") that is valid UTF-8 of at most max_cp code
 * points: invalid bytes become U+FFFD, C0 controls, DEL and C1 controls are dropped (a tab
 * becomes a space), and line breaks (\n, U+2028, U+2029, U+0085) become "\n" when multiline
 * (at most max_lines - 1 of them; later ones become spaces) or a space otherwise; with
 * ascii, every other code point above U+007F becomes '?'. NULL only when out of memory. */
static char *clean_text(const char *s, size_t max_cp, bool multiline, int max_lines, bool ascii)
{
    if (!s)
        s = "";
    size_t cap = max_cp * 4 + 1;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), o = 0, count = 0;
    int breaks = 0;
    while (n > 0 && count < max_cp) {
        uint32_t cp;
        size_t len = utf8_decode(p, n, &cp);
        if (len == 0) {
            cp = 0xFFFD, len = 1;
            /* One replacement per malformed run of continuation bytes, not one per byte. */
            while (len < n && (p[len] & 0xC0) == 0x80 && len < 4)
                len++;
        }
        p += len, n -= len;
        if (cp == '\n' || cp == 0x2028 || cp == 0x2029 || cp == 0x85) {
            if (multiline && breaks < max_lines - 1) {
                breaks++;
                cp = '\n';
            } else {
                cp = ' ';
            }
        } else if (cp == '\t') {
            cp = ' ';
        } else if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) {
            continue;
        } else if (ascii && cp > 0x7F) {
            cp = '?';
        }
        o += utf8_encode(cp, out + o);
        count++;
    }
    out[o] = '\0';
    return out;
}

/* ---------------------------------------------------------------------------------------- */
/* The per-thread font map                                                                  */
/* ---------------------------------------------------------------------------------------- */

static pthread_key_t fontmap_key;
static pthread_once_t fontmap_once = PTHREAD_ONCE_INIT;
static int fontmap_key_err;

static void fontmap_release(void *map)
{
    g_object_unref(map);
}

static void fontmap_key_create(void)
{
    fontmap_key_err = pthread_key_create(&fontmap_key, fontmap_release);
}

/* This thread's font map, created on first use; NULL when that fails. */
static PangoFontMap *thread_fontmap(void)
{
    pthread_once(&fontmap_once, fontmap_key_create);
    if (fontmap_key_err)
        return NULL;
    PangoFontMap *map = pthread_getspecific(fontmap_key);
    if (map)
        return map;
    map = pango_cairo_font_map_new();
    if (!map)
        return NULL;
    /* Positions in points: the PDF's user unit. */
    pango_cairo_font_map_set_resolution(PANGO_CAIRO_FONT_MAP(map), 72.0);
    if (pthread_setspecific(fontmap_key, map) != 0) {
        g_object_unref(map);
        return NULL;
    }
    return map;
}

/* ---------------------------------------------------------------------------------------- */
/* Drawing                                                                                  */
/* ---------------------------------------------------------------------------------------- */

struct pdf_buf {
    unsigned char *data;
    size_t len, cap;
    bool oom;
};

static cairo_status_t pdf_write(void *closure, const unsigned char *data, unsigned int length)
{
    struct pdf_buf *b = closure;
    if (b->len + length > b->cap) {
        size_t cap = b->cap ? b->cap : 64 * 1024;
        while (cap < b->len + length)
            cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) {
            b->oom = true;
            return CAIRO_STATUS_WRITE_ERROR;
        }
        b->data = d, b->cap = cap;
    }
    memcpy(b->data + b->len, data, length);
    b->len += length;
    return CAIRO_STATUS_SUCCESS;
}

struct card_ctx {
    cairo_t *cr;
    PangoContext *pango;
    PangoLayout *layout; /* reused for every piece of text */
    PangoFontDescription *font;
    double font_pt; /* the size set last */
    size_t field_max_cp, remarks_max_cp;
    bool no_bold, ascii; /* the last resorts against a PDF over 100 KB */
    bool oom;
};

enum align { LEFT, CENTER, RIGHT };

static void set_font(struct card_ctx *c, double size_pt, bool bold)
{
    c->font_pt = size_pt;
    pango_font_description_set_size(c->font, (gint)(size_pt * PANGO_SCALE));
    pango_font_description_set_weight(c->font, bold && !c->no_bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
    pango_layout_set_font_description(c->layout, c->font);
}

/* Draws text (already clean) on one line in the box (x, y, w, h), ellipsized at the end,
 * clipped to the box. The baseline sits at the same height whatever the script (fonts of
 * different scripts have different line heights), so a row's cells line up. */
static void draw_line_clean(struct card_ctx *c, const char *text, double x, double y, double w,
                            double h, enum align align)
{
    if (!text[0] || w <= 0 || h <= 0)
        return;
    PangoLayout *l = c->layout;
    pango_layout_set_width(l, (int)(w * PANGO_SCALE));
    pango_layout_set_height(l, 0);
    pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
    pango_layout_set_ellipsize(l, PANGO_ELLIPSIZE_END);
    pango_layout_set_single_paragraph_mode(l, TRUE);
    pango_layout_set_alignment(l, align == CENTER  ? PANGO_ALIGN_CENTER
                                  : align == RIGHT ? PANGO_ALIGN_RIGHT
                                                   : PANGO_ALIGN_LEFT);
    pango_layout_set_text(l, text, -1);
    double baseline = (double)pango_layout_get_baseline(l) / PANGO_SCALE;
    cairo_save(c->cr);
    cairo_rectangle(c->cr, x, y, w, h);
    cairo_clip(c->cr);
    cairo_move_to(c->cr, x, y + h / 2 + c->font_pt * 0.36 - baseline);
    pango_cairo_show_layout(c->cr, l);
    cairo_restore(c->cr);
}

/* The same for text straight from the caller: cleaned first. */
static void draw_line(struct card_ctx *c, const char *raw, double x, double y, double w, double h,
                      enum align align)
{
    char *t = clean_text(raw, c->field_max_cp, false, 1, c->ascii);
    if (!t) {
        c->oom = true;
        return;
    }
    draw_line_clean(c, t, x, y, w, h, align);
    free(t);
}

static void hline(cairo_t *cr, double x0, double x1, double y, double width)
{
    cairo_set_line_width(cr, width);
    cairo_move_to(cr, x0, y);
    cairo_line_to(cr, x1, y);
    cairo_stroke(cr);
}

/* "label: value" with a bold label, both in the box, the value ellipsized. */
static void draw_field(struct card_ctx *c, const char *label, const char *value, double x,
                       double y, double w, double h, double label_w)
{
    set_font(c, 9.5, true);
    draw_line_clean(c, label, x, y, label_w, h, LEFT);
    set_font(c, 10.5, false);
    draw_line(c, value, x + label_w, y, w - label_w, h, LEFT);
}

static void draw_card(struct card_ctx *c, const struct report_card *rc)
{
    cairo_t *cr = c->cr;
    char num[160];
    double y = MARGIN - 8;

    cairo_set_source_rgb(cr, 0, 0, 0);

    /* Heading: the school, then the card's title. */
    set_font(c, 17, true);
    draw_line(c, rc->school, MARGIN, y, CONTENT_W, 28, CENTER);
    y += 28;
    set_font(c, 11.5, false);
    {
        char *term = clean_text(rc->term, 60, false, 1, c->ascii),
             *year = clean_text(rc->year, 30, false, 1, c->ascii);
        if (!term || !year) {
            c->oom = true;
        } else {
            char title[512];
            snprintf(title, sizeof title, "Report Card%s%s%s%s", term[0] || year[0] ? " — " : "",
                     term, term[0] && year[0] ? ", " : "", year);
            draw_line_clean(c, title, MARGIN, y, CONTENT_W, 18, CENTER);
        }
        free(term);
        free(year);
    }
    y += 22;
    hline(cr, MARGIN, PAGE_W - MARGIN, y, 1.2);
    y += 6;

    /* Student details: two columns. */
    double col_w = CONTENT_W / 2, row_h = 17;
    draw_field(c, "Name", rc->student, MARGIN, y, CONTENT_W, row_h, 80);
    y += row_h;
    draw_field(c, "Admission no", rc->admission_no, MARGIN, y, col_w, row_h, 80);
    snprintf(num, sizeof num, "%d", rc->roll_no);
    draw_field(c, "Roll no", rc->roll_no > 0 ? num : "", MARGIN + col_w, y, col_w, row_h, 80);
    y += row_h;
    {
        char *cls = clean_text(rc->class_name, 60, false, 1, c->ascii),
             *sec = clean_text(rc->section, 60, false, 1, c->ascii);
        if (!cls || !sec) {
            c->oom = true;
        } else {
            char both[512];
            snprintf(both, sizeof both, "%s%s%s", cls, cls[0] && sec[0] ? " – " : "", sec);
            set_font(c, 9.5, true);
            draw_line_clean(c, "Class", MARGIN, y, 80, row_h, LEFT);
            set_font(c, 10.5, false);
            draw_line_clean(c, both, MARGIN + 80, y, col_w - 80, row_h, LEFT);
        }
        free(cls);
        free(sec);
    }
    draw_field(c, "Date of birth", rc->dob, MARGIN + col_w, y, col_w, row_h, 80);
    y += row_h;
    draw_field(c, "Class teacher", rc->class_teacher, MARGIN, y, CONTENT_W, row_h, 80);
    y += row_h + 8;

    /* The marks table: Subject | Marks | Max | Grade; rows shrink to fit 24 subjects. */
    size_t n = rc->subjects ? rc->n_subjects : 0;
    if (n > REPORT_CARD_MAX_SUBJECTS)
        n = REPORT_CARD_MAX_SUBJECTS;
    /* Everything below the table is laid out from the bottom up: the signature lines, room
     * to sign above them, the remarks box (at least BOX_MIN_H), attendance and the overall
     * result; the table gets what is left. */
    const double sig_y = PAGE_H - 72, box_bottom = sig_y - 40;
    const double below_table = 10 + 20 + 26 + 17 + BOX_MIN_H;
    const double table_bottom = box_bottom - below_table;
    double rh = (table_bottom - y) / (double)(n + 1);
    if (rh > 19)
        rh = 19;
    double font_pt = rh >= 16 ? 10 : rh >= 14 ? 9 : 8.5;
    const double cw[4] = {CONTENT_W - 3 * 80, 80, 80, 80};
    double cx[5] = {MARGIN};
    for (int i = 0; i < 4; i++)
        cx[i + 1] = cx[i] + cw[i];
    const char *heads[4] = {"Subject", "Marks", "Max", "Grade"};
    cairo_set_source_rgb(cr, 0.90, 0.92, 0.95);
    cairo_rectangle(cr, MARGIN, y, CONTENT_W, rh);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    set_font(c, font_pt, true);
    for (int i = 0; i < 4; i++)
        draw_line_clean(c, heads[i], cx[i] + 5, y, cw[i] - 10, rh, i ? CENTER : LEFT);
    double ty = y;
    y += rh;
    set_font(c, font_pt, false);
    for (size_t r = 0; r < n; r++) {
        const struct report_card_subject *s = &rc->subjects[r];
        const char *cells[4] = {s->name, s->marks, s->max, s->grade};
        for (int i = 0; i < 4; i++)
            draw_line(c, cells[i], cx[i] + 5, y, cw[i] - 10, rh, i ? CENTER : LEFT);
        y += rh;
    }
    cairo_set_line_width(cr, 0.6);
    for (size_t r = 0; r <= n + 1; r++) {
        cairo_move_to(cr, MARGIN, ty + rh * (double)r);
        cairo_line_to(cr, PAGE_W - MARGIN, ty + rh * (double)r);
    }
    for (int i = 0; i <= 4; i++) {
        cairo_move_to(cr, cx[i], ty);
        cairo_line_to(cr, cx[i], y);
    }
    cairo_stroke(cr);
    y += 10;

    /* Overall result and attendance. */
    row_h = 18;
    {
        char *pct = clean_text(rc->overall_percentage, 20, false, 1, c->ascii);
        if (!pct) {
            c->oom = true;
        } else {
            snprintf(num, sizeof num, pct[0] ? "%s%%" : "", pct);
            set_font(c, 9.5, true);
            draw_line_clean(c, "Overall", MARGIN, y, 60, row_h, LEFT);
            set_font(c, 10.5, false);
            draw_line_clean(c, num, MARGIN + 60, y, 110, row_h, LEFT);
            free(pct);
        }
    }
    draw_field(c, "Grade", rc->overall_grade, MARGIN + 175, y, 150, row_h, 45);
    if (rc->rank)
        draw_field(c, "Rank", rc->rank, MARGIN + 330, y, CONTENT_W - 330, row_h, 40);
    y += row_h + 2;
    if (rc->days_marked > 0 && rc->days_present >= 0)
        snprintf(num, sizeof num, "%d of %d days present (%.1f%%)", rc->days_present,
                 rc->days_marked, 100.0 * rc->days_present / rc->days_marked);
    else
        snprintf(num, sizeof num, "no attendance marked");
    set_font(c, 9.5, true);
    draw_line_clean(c, "Attendance", MARGIN, y, 80, row_h, LEFT);
    set_font(c, 10.5, false);
    draw_line_clean(c, num, MARGIN + 80, y, CONTENT_W - 80, row_h, LEFT);
    y += row_h + 8;

    /* The class teacher's remarks: wrapped, at most REMARKS_MAX_LINES lines, cut with an
     * ellipsis at the box's height, clipped to the box. */
    set_font(c, 9.5, true);
    draw_line_clean(c, "Class teacher's remarks", MARGIN, y, CONTENT_W, 16, LEFT);
    y += 17;
    const double box_h = box_bottom - y, pad = 6;
    cairo_set_line_width(cr, 0.8);
    cairo_rectangle(cr, MARGIN, y, CONTENT_W, box_h);
    cairo_stroke(cr);
    char *remarks =
        clean_text(rc->remarks, c->remarks_max_cp, true, REMARKS_MAX_LINES, c->ascii);
    if (!remarks) {
        c->oom = true;
    } else if (remarks[0]) {
        PangoLayout *l = c->layout;
        set_font(c, 9.5, false);
        pango_layout_set_single_paragraph_mode(l, FALSE);
        pango_layout_set_alignment(l, PANGO_ALIGN_LEFT);
        pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
        pango_layout_set_ellipsize(l, PANGO_ELLIPSIZE_END);
        pango_layout_set_width(l, (int)((CONTENT_W - 2 * pad) * PANGO_SCALE));
        /* About REMARKS_MAX_LINES lines of Latin text (scripts with taller lines get fewer). */
        double text_h = REMARKS_MAX_LINES * 9.5 * 1.37;
        if (text_h > box_h - 2 * pad)
            text_h = box_h - 2 * pad;
        pango_layout_set_height(l, (int)(text_h * PANGO_SCALE));
        pango_layout_set_text(l, remarks, -1);
        cairo_save(cr);
        cairo_rectangle(cr, MARGIN + 1, y + 1, CONTENT_W - 2, box_h - 2);
        cairo_clip(cr);
        cairo_move_to(cr, MARGIN + pad, y + pad);
        pango_cairo_show_layout(cr, l);
        cairo_restore(cr);
        pango_layout_set_height(l, 0);
    }
    free(remarks);

    /* Signature lines, and the footer. */
    double sy = sig_y, sw = (CONTENT_W - 2 * 30) / 3;
    const char *signs[3] = {"Class teacher", "Principal", "Parent / Guardian"};
    set_font(c, 9, false);
    for (int i = 0; i < 3; i++) {
        double sx = MARGIN + i * (sw + 30);
        hline(cr, sx, sx + sw, sy, 0.6);
        draw_line_clean(c, signs[i], sx, sy + 2, sw, 14, CENTER);
    }
    hline(cr, MARGIN, PAGE_W - MARGIN, PAGE_H - 42, 0.4);
    set_font(c, 7.5, false);
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    draw_line_clean(c, "Generated by Classment", MARGIN, PAGE_H - 40, CONTENT_W, 12, CENTER);
}

static pthread_mutex_t emit_lock = PTHREAD_MUTEX_INITIALIZER;

/* How hard a card is squeezed (see report_card_pdf). */
struct squeeze {
    size_t field_max_cp, remarks_max_cp;
    bool no_bold, ascii;
};

/* Renders once, squeezed as sq says; 0, -ENOMEM or -EIO. */
static int render(const struct report_card *rc, const struct squeeze *sq, struct pdf_buf *out)
{
    PangoFontMap *map = thread_fontmap();
    if (!map)
        return -ENOMEM;
    *out = (struct pdf_buf){0};
    cairo_surface_t *surface =
        cairo_pdf_surface_create_for_stream(pdf_write, out, PAGE_W, PAGE_H);
    cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, "Report card");
    cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "Classment");
    cairo_t *cr = cairo_create(surface);
    struct card_ctx c = {
        .cr = cr,
        .pango = pango_font_map_create_context(map),
        .font = pango_font_description_from_string(FONT_FAMILIES " 10"),
        .field_max_cp = sq->field_max_cp,
        .remarks_max_cp = sq->remarks_max_cp,
        .no_bold = sq->no_bold,
        .ascii = sq->ascii,
    };
    /* No hinting and no metric rounding: positions as the font designs them, the same on
     * every machine. */
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    pango_cairo_context_set_font_options(c.pango, fo);
    cairo_font_options_destroy(fo);
    pango_cairo_update_context(cr, c.pango);
    c.layout = pango_layout_new(c.pango);
    draw_card(&c, rc);
    g_object_unref(c.layout);
    pango_font_description_free(c.font);
    g_object_unref(c.pango);
    /* Emitting the page writes the font subsets, where cairo 1.16 reads the fonts' FreeType
     * faces (shared by every thread: cairo keeps one per font file) in ways that crash when
     * two threads do it at once (seen: FT_Get_First_Char in the cmap walk, ~1 run in 15 of
     * the unit test's 4 threads). Drawing above runs in parallel; this part runs one at a
     * time. */
    pthread_mutex_lock(&emit_lock);
    cairo_show_page(cr);
    cairo_destroy(cr);
    cairo_surface_finish(surface);
    pthread_mutex_unlock(&emit_lock);
    cairo_status_t st = cairo_surface_status(surface);
    cairo_surface_destroy(surface);
    int rc_err = 0;
    if (c.oom || out->oom || st == CAIRO_STATUS_NO_MEMORY)
        rc_err = -ENOMEM;
    else if (st != CAIRO_STATUS_SUCCESS || out->len == 0)
        rc_err = -EIO;
    if (rc_err) {
        free(out->data);
        *out = (struct pdf_buf){0};
    }
    return rc_err;
}

int report_card_pdf(const struct report_card *rc, unsigned char **pdf, size_t *len)
{
    /* Each font used costs its subset (2-3 KB even for one glyph: cairo copies the font's
     * hinting program into every subset) plus its glyphs, so a typical card (Latin and one
     * Indian script) is ~50 KB, one in eight scripts ~80 KB. A card still over PDF_SOFT_MAX
     * (text in many scripts, thousands of distinct glyphs) is drawn again with shorter text,
     * then with no bold faces, and as a last resort with '?' for anything not ASCII. */
    static const struct squeeze steps[] = {
        {FIELD_MAX_CP, REMARKS_MAX_CP, false, false},
        {FIELD_MAX_CP, 400, false, false},
        {60, 200, true, false},
        {60, 200, true, true},
    };
    if (!rc || !pdf || !len)
        return -EINVAL;
    struct pdf_buf out = {0};
    int err = 0;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        free(out.data);
        err = render(rc, &steps[i], &out);
        if (err || out.len <= PDF_SOFT_MAX)
            break;
    }
    if (err)
        return err;
    *pdf = out.data;
    *len = out.len;
    return 0;
}

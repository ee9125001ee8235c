//! Chatwoot's reply editor writes Markdown (`**bold**`, `[text](url)`, lists); Messenger and
//! Instagram show text as it is. The Markdown is parsed (CommonMark, by pulldown-cmark) and
//! rendered as plain text that reads well: emphasis marks dropped, a link as
//! "text (url)", list items as "• item" or "1. item", paragraphs separated by a blank line.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// `markdown` as plain text for a messaging app.
pub(crate) fn to_plain_text(markdown: &str) -> String {
    let mut out = String::new();
    // The list numbering in force at each depth (`None`: bullets).
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut links: Vec<(String, usize)> = Vec::new();
    let parser = Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH);
    for event in parser {
        match event {
            Event::Start(Tag::Paragraph | Tag::Heading { .. } | Tag::BlockQuote(_))
            | Event::Start(Tag::CodeBlock(_)) => block_break(&mut out, &lists),
            Event::End(TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::CodeBlock) => {}
            Event::Start(Tag::List(start)) => {
                block_break(&mut out, &lists);
                lists.push(start);
            }
            Event::End(TagEnd::List(_)) => {
                lists.pop();
            }
            Event::Start(Tag::Item) => {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                let depth = lists.len().saturating_sub(1);
                out.push_str(&"  ".repeat(depth));
                match lists.last_mut() {
                    Some(Some(n)) => {
                        out.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => out.push_str("• "),
                }
            }
            Event::Start(Tag::Link { dest_url, .. }) => {
                links.push((dest_url.to_string(), out.len()))
            }
            Event::End(TagEnd::Link) => {
                if let Some((url, from)) = links.pop() {
                    let text = out.get(from..).unwrap_or("").trim().to_owned();
                    // A bare URL (autolink) is shown once.
                    if !url.is_empty() && text != url && !url.ends_with(&text) {
                        out.push_str(&format!(" ({url})"));
                    }
                }
            }
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak | Event::HardBreak => out.push('\n'),
            Event::Rule => {
                block_break(&mut out, &lists);
                out.push_str("———");
            }
            Event::Html(h) | Event::InlineHtml(h) => out.push_str(&h),
            _ => {}
        }
    }
    out.trim().to_owned()
}

/// A blank line before a new block, except at the start and inside list items.
fn block_break(out: &mut String, lists: &[Option<u64>]) {
    if out.is_empty() {
        return;
    }
    if lists.is_empty() {
        while !out.ends_with("\n\n") {
            out.push('\n');
        }
    } else if !out.ends_with('\n') {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_markdown_reads_well_as_plain_text() {
        assert_eq!(to_plain_text("Hello **Ada**, _thanks_!"), "Hello Ada, thanks!");
        assert_eq!(
            to_plain_text("See [our FAQ](https://example.com/faq)."),
            "See our FAQ (https://example.com/faq)."
        );
        assert_eq!(to_plain_text("<https://example.com>"), "https://example.com");
        assert_eq!(to_plain_text("First\n\nSecond"), "First\n\nSecond");
        assert_eq!(to_plain_text("line one\nline two"), "line one\nline two");
        assert_eq!(to_plain_text("Steps:\n\n1. Open\n2. Click"), "Steps:\n\n1. Open\n2. Click");
        assert_eq!(to_plain_text("- tea\n- coffee"), "• tea\n• coffee");
        assert_eq!(to_plain_text("Use `code` ~~not this~~"), "Use code not this");
        assert_eq!(to_plain_text("2 * 3 = 6 and a_b_c"), "2 * 3 = 6 and a_b_c");
        assert_eq!(to_plain_text("Price: $5 #1"), "Price: $5 #1");
    }
}

//! Pages of long lists: at most a page size of items after a token, and the
//! token for the next page. A token is the id of the last item of the page
//! before: lists are in id order, so a page stays well defined while the
//! list changes, and starting one costs a lookup, not a walk from the start.

use tonic::Status;

pub const DEFAULT_PAGE_SIZE: usize = 1000;
pub const MAX_PAGE_SIZE: usize = 10_000;

/// A page as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub size: usize,
    /// Start after this id; `None` for the first page.
    pub after: Option<String>,
}

impl PageRequest {
    pub fn new(size: u32, token: &str) -> Result<Self, Status> {
        let size = match usize::try_from(size).unwrap_or(usize::MAX) {
            0 => DEFAULT_PAGE_SIZE,
            n if n > MAX_PAGE_SIZE => {
                return Err(Status::invalid_argument(format!(
                    "page_size: {n} is more than {MAX_PAGE_SIZE}"
                )));
            }
            n => n,
        };
        Ok(Self {
            size,
            after: (!token.is_empty()).then(|| token.to_string()),
        })
    }
}

/// Up to `size` of `items` (already starting after the token), and the
/// token for the next page if more may follow.
pub fn take_page<T>(
    items: impl Iterator<Item = T>,
    size: usize,
    id_of: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let mut items = items.peekable();
    let page: Vec<T> = items.by_ref().take(size).collect();
    let next = match (items.peek(), page.last()) {
        (Some(_), Some(last)) => Some(id_of(last)),
        _ => None,
    };
    (page, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_the_list_once_in_order() {
        let list: Vec<u32> = (0..25).collect();
        let mut seen: Vec<u32> = Vec::new();
        let mut after: Option<u32> = None;
        let mut pages = 0;
        loop {
            let rest = list
                .iter()
                .copied()
                .filter(|i| after.is_none_or(|a| *i > a));
            let (page, next) = take_page(rest, 10, u32::to_string);
            pages += 1;
            seen.extend(&page);
            match next {
                Some(token) => after = Some(token.parse().unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, list);
        assert_eq!(pages, 3);
    }

    #[test]
    fn a_list_that_fits_has_no_next_page() {
        let (page, next) = take_page(0..10, 10, u32::to_string);
        assert_eq!(page.len(), 10);
        assert_eq!(next, None);
        let (page, next) = take_page(0..0, 10, u32::to_string);
        assert!(page.is_empty() && next.is_none());
    }

    #[test]
    fn sizes_default_and_are_bounded() {
        assert_eq!(PageRequest::new(0, "").unwrap().size, DEFAULT_PAGE_SIZE);
        assert_eq!(
            PageRequest::new(5, "job-9").unwrap().after.as_deref(),
            Some("job-9")
        );
        let refused = PageRequest::new(10_001, "").unwrap_err();
        assert!(
            refused.message().contains("page_size"),
            "{}",
            refused.message()
        );
    }
}

//! Query-string parsing with the contract's error messages.
//!
//! actix's `web::Query` answers a bad parameter with its own wording; this reader names the
//! parameter and says what it must be, and refuses parameters a route does not take (a typo
//! such as `cuont=5` should not silently fall back to the default).

use std::borrow::Cow;

use crate::error::ApiError;

/// The parameters of one request, taken out one by one by name.
#[derive(Debug)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    pub fn parse(query: &str) -> Result<QueryParams, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| ApiError::invalid_field("query", "the query string is not valid"))?;
        Ok(QueryParams { pairs })
    }

    /// Removes and returns `name`; a parameter given twice is refused as ambiguous.
    pub fn take(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        let mut found = None;
        let mut index = 0;
        while index < self.pairs.len() {
            if self.pairs[index].0 == name {
                let (_, value) = self.pairs.remove(index);
                if found.is_some() {
                    return Err(ApiError::invalid_field(name, "given more than once"));
                }
                found = Some(value);
            } else {
                index += 1;
            }
        }
        Ok(found)
    }

    /// Fails on the first parameter nobody took.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.pairs.into_iter().next() {
            None => Ok(()),
            Some((name, _)) => {
                let name: Cow<'_, str> = if name.len() > 40 {
                    Cow::Owned(name.chars().take(40).collect())
                } else {
                    Cow::Borrowed(&name)
                };
                Err(ApiError::invalid_field(&name, "unknown parameter"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::QueryParams;

    #[test]
    fn takes_known_parameters_and_refuses_the_rest() {
        let mut params = QueryParams::parse("timeframe=H1&count=5&cuont=6").unwrap();
        assert_eq!(params.take("timeframe").unwrap().as_deref(), Some("H1"));
        assert_eq!(params.take("count").unwrap().as_deref(), Some("5"));
        assert_eq!(params.take("symbol").unwrap(), None);
        let err = params.finish().unwrap_err();
        assert_eq!(err.message, "cuont: unknown parameter");
    }

    #[test]
    fn a_repeated_parameter_is_ambiguous() {
        let mut params = QueryParams::parse("count=1&count=2").unwrap();
        assert!(params.take("count").is_err());
    }
}

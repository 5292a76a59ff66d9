//! A browser-less client for the web UI: keeps the session cookie by hand,
//! follows no redirects, and parses pages with `scraper`.

use crate::helpers::{TestApp, ADMIN_PASSWORD, ADMIN_USER};
use reqwest::header::{HeaderMap, HeaderValue, COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use scraper::{Html, Selector};

pub const HTML_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
base-uri 'none'";

pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn html(&self) -> Html {
        Html::parse_document(&self.body)
    }

    /// Text of every element matching `css`.
    pub fn texts(&self, css: &str) -> Vec<String> {
        let sel = Selector::parse(css).expect("selector");
        self.html()
            .select(&sel)
            .map(|e| e.text().collect::<String>().trim().to_owned())
            .collect()
    }

    /// The value of `attr` on the first element matching `css`.
    pub fn attr(&self, css: &str, attr: &str) -> Option<String> {
        let sel = Selector::parse(css).expect("selector");
        self.html()
            .select(&sel)
            .next()
            .and_then(|e| e.value().attr(attr).map(str::to_owned))
    }

    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct WebClient {
    pub base: String,
    client: reqwest::Client,
    pub cookie: Option<String>,
}

impl WebClient {
    pub fn new(app: &TestApp) -> Self {
        Self {
            base: format!("http://{}", app.addr),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookie: None,
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Page {
        let req = match &self.cookie {
            Some(c) => req.header(COOKIE, c.as_str()),
            None => req,
        };
        let resp = req.send().await.expect("request");
        Page {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: resp.text().await.expect("body"),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    /// Posts a form with extra headers (fetch metadata, Origin).
    pub async fn post_with(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&'static str, &str)],
    ) -> Page {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish(),
            );
        for (k, v) in headers {
            req = req.header(*k, HeaderValue::from_str(v).expect("header"));
        }
        self.send(req).await
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_with(path, fields, &[]).await
    }

    /// Posts a `multipart/form-data` form with one file, as a browser sends
    /// a form with `enctype="multipart/form-data"`.
    pub async fn post_file(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file_field: &str,
        file: &[u8],
    ) -> Page {
        let boundary = "----openlatch-test-boundary-7d1f";
        let mut body = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; \
                 filename=\"list.ol02\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        self.send(req).await
    }

    /// Logs in through the form; keeps the cookie.
    pub async fn login(&mut self, username: &str, password: &str) -> Page {
        let page = self
            .post("/login", &[("username", username), ("password", password)])
            .await;
        if let Some(set) = page.header(SET_COOKIE.as_str()) {
            self.cookie = set.split(';').next().map(str::to_owned);
        }
        page
    }

    pub async fn login_admin(app: &TestApp) -> Self {
        let mut c = Self::new(app);
        let page = c.login(ADMIN_USER, ADMIN_PASSWORD).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        c
    }

    /// The CSRF token of the logged-in session, read from a page's logout form.
    pub async fn csrf(&self) -> String {
        let page = self.get("/me").await;
        page.attr("form.logout input[name=csrf]", "value")
            .expect("csrf field")
    }
}

// Starts Swagger UI on this server's schema. It is a file, not the inline
// script FastAPI's page uses, so /docs runs under the same Content-Security-
// Policy as the UI; every URL is relative, so it works under a proxy's prefix.
window.ui = window.SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  // Its default shows a badge fetched from a validator on the internet.
  validatorUrl: null,
  presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset],
});

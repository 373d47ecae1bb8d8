/* global document, location, URL, React, ReactDOM, GraphiQL */
// Starts GraphiQL (UMD globals from the scripts before this one) on this
// gateway's /graphql: queries over HTTP, subscriptions over graphql-ws on the
// same port. Kept out of the page so that a script-src 'self' policy holds.
const url = new URL('/graphql', location.href).href;
const subscriptionUrl = url.replace(/^http/, 'ws');
const fetcher = GraphiQL.createFetcher({ url, subscriptionUrl });
const defaultQuery = `# gputel GraphQL API: see docs/graphql.md. Ctrl-Enter runs, Ctrl-Space completes.
{
  gpus {
    id
    hostname
    gpuId
    model
    status
    latest {
      timestamp
      gpuUtilization
      temperature
      powerDraw
    }
  }
}
`;
ReactDOM.createRoot(document.getElementById('graphiql')).render(React.createElement(GraphiQL, { fetcher, defaultQuery }));

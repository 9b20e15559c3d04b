// Stylesheets are bundled by esbuild into the app's one CSS file.
declare module '*.css';

// GOV.UK Frontend's components, started from a file (the content security policy allows no inline script).
import { initAll } from '/static/govuk/govuk-frontend.min.js'

document.body.classList.add('js-enabled', 'govuk-frontend-supported')
initAll()

/** The emails the service sends, each as plain text and HTML. Values are escaped in the HTML part. */
export interface MailTemplates {
  welcome: { name: string };
  'verify-email': { name: string; link: string; expiresAt: string };
  campaign: { name: string; subject: string; body: string };
}
export type MailTemplate = keyof MailTemplates;
export const MAIL_TEMPLATES: readonly MailTemplate[] = ['welcome', 'verify-email', 'campaign'];

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

const escapeHtml = (value: string): string =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

function page(title: string, paragraphs: string[]): string {
  const body = paragraphs.map((p) => `<p>${p}</p>`).join('\n    ');
  return `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
  <body style="font-family: sans-serif; line-height: 1.5">
    ${body}
  </body>
</html>
`;
}

/** Renders `template` with `data`. */
export function renderMail<T extends MailTemplate>(template: T, data: MailTemplates[T]): RenderedMail {
  switch (template) {
    case 'welcome': {
      const { name } = data;
      const subject = 'Welcome to Groundwork';
      return {
        subject,
        text: `Hello ${name},\n\nwelcome to Groundwork. Your account is ready.\n`,
        html: page(subject, [`Hello ${escapeHtml(name)},`, 'welcome to Groundwork. Your account is ready.']),
      };
    }
    case 'verify-email': {
      const { name, link, expiresAt } = data as MailTemplates['verify-email'];
      const subject = 'Verify your email address';
      return {
        subject,
        text: `Hello ${name},\n\nplease confirm your email address by opening this link:\n\n${link}\n\nThe link works once and expires at ${expiresAt}.\n`,
        html: page(subject, [
          `Hello ${escapeHtml(name)},`,
          `please confirm your email address: <a href="${escapeHtml(link)}">verify my address</a>.`,
          `The link works once and expires at ${escapeHtml(expiresAt)}.`,
        ]),
      };
    }
    case 'campaign': {
      const { name, subject, body } = data as MailTemplates['campaign'];
      return {
        subject,
        text: `Hello ${name},\n\n${body}\n`,
        html: page(subject, [`Hello ${escapeHtml(name)},`, ...body.split(/\n{2,}/).map((p) => escapeHtml(p).replace(/\n/g, '<br>'))]),
      };
    }
    default:
      throw new Error(`unknown mail template ${String(template)}`);
  }
}

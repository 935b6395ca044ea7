// #/login: sign in, or create an account (which signs you in and opens onboarding).
import { api } from '../api.js';
import { el } from '../dom.js';
import { clearMessages, showError } from '../messages.js';
import { setView, state } from '../page.js';
import { HOME, navigate, updateChrome } from '../router.js';
import { setSession, takeReturnTo } from '../session.js';

function field(id, label, attrs, hint = null) {
  const hintId = hint ? `${id}-hint` : null;
  return el(
    'div',
    { class: 'field' },
    el('label', { for: id }, label),
    el('input', { id, name: attrs.name || id, 'aria-describedby': hintId, ...attrs }),
    hint ? el('p', { class: 'hint', id: hintId }, hint) : null,
  );
}

async function signIn(username, password) {
  const token = await api('/auth/login', { method: 'POST', form: { username, password } });
  setSession(token.access_token, { username });
  try {
    setSession(token.access_token, await api('/auth/me'));
  } catch {
    /* the username we typed is good enough for the header */
  }
  updateChrome();
}

// Disable a form's submit button with a progress label while `work` runs.
async function submitting(form, busyLabel, work) {
  const button = form.querySelector('button[type=submit]');
  const label = button.textContent;
  button.disabled = true;
  button.textContent = busyLabel;
  try {
    await work();
  } catch (err) {
    showError(err.message);
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

// A titled form panel: its fields, then one submit button.
function panelForm(id, title, fields, submit) {
  return el('form', { id, class: 'panel form' }, el('h2', {}, title), ...fields, submit);
}

const USERNAME = { name: 'username', type: 'text', autocomplete: 'username', required: true };
const PASSWORD = { name: 'password', type: 'password', required: true };

export function viewLogin() {
  const loginForm = panelForm('login-form', 'Sign in', [
    field('login-username', 'Username', USERNAME),
    field('login-password', 'Password', { ...PASSWORD, autocomplete: 'current-password' }),
  ], el('button', { class: 'btn btn-primary', type: 'submit' }, 'Sign in'));

  const registerForm = panelForm('register-form', 'Create an account', [
    field('register-username', 'Username', {
      ...USERNAME, minlength: 3, maxlength: 64, pattern: '[A-Za-z0-9_.\\-]+',
    }, 'Letters, digits, dot, dash or underscore.'),
    field('register-email', 'Email', {
      name: 'email', type: 'email', autocomplete: 'email', required: true,
    }),
    field('register-password', 'Password', {
      ...PASSWORD, autocomplete: 'new-password', minlength: 8,
    }, 'At least 8 characters.'),
  ], el('button', { class: 'btn btn-secondary', type: 'submit' }, 'Create account'));

  loginForm.addEventListener('submit', (event) => {
    event.preventDefault();
    submitting(loginForm, 'Signing in…', async () => {
      try {
        await signIn(loginForm.username.value.trim(), loginForm.password.value);
      } catch (err) {
        loginForm.password.select();
        throw err;
      }
      clearMessages();
      navigate(takeReturnTo() || HOME);
    });
  });

  registerForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const payload = {
      username: registerForm.username.value.trim(),
      email: registerForm.email.value.trim(),
      password: registerForm.password.value,
    };
    submitting(registerForm, 'Creating…', async () => {
      const user = await api('/auth/register', { method: 'POST', json: payload });
      await signIn(user.username, payload.password);
      state.flash = {
        kind: 'notice',
        text: `Account “${user.username}” created and signed in. Rate a few movies you know `
          + 'to get personal recommendations.',
      };
      navigate('#/welcome');
    });
  });

  setView('login', el(
    'section',
    { class: 'auth', 'aria-labelledby': 'auth-title' },
    el('h1', { id: 'auth-title' }, 'Welcome to MovieRec'),
    el('p', { class: 'lead' },
      'Rate a few movies and get recommendations that blend what people with similar taste ',
      'liked with what each movie is about.'),
    el('div', { class: 'auth-grid' }, loginForm, registerForm),
  ), 'Sign in');
}
